from simpul.signatures.app import create_app
from simpul.signatures.settings import SignaturesSettings
from simpul.shared.serve import main

main(create_app, SignaturesSettings)
