from simpul.signatures.app import create_app
from simpul.signatures.commands import COMMANDS
from simpul.signatures.settings import SignaturesSettings
from simpul.shared.serve import main, without_arguments

main(create_app, SignaturesSettings, commands=without_arguments(COMMANDS))
