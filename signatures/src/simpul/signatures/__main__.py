from simpul.shared.serve import load_settings, serve
from simpul.signatures.app import create_app
from simpul.signatures.settings import SignaturesSettings

settings = load_settings(SignaturesSettings)
serve(create_app(settings), settings.host, settings.port, settings.log_level)
