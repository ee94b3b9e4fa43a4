from functools import partial

from simpul.gateway.app import create_app
from simpul.gateway.settings import GatewaySettings
from simpul.shared.serve import main

main(partial(create_app, freeze_heap=True), GatewaySettings)
