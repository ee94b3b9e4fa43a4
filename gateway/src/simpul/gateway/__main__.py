from functools import partial

from simpul.gateway.app import create_app
from simpul.gateway.commands import COMMANDS
from simpul.gateway.settings import GatewaySettings
from simpul.shared.serve import main, without_arguments

main(partial(create_app, freeze_heap=True), GatewaySettings, commands=without_arguments(COMMANDS))
