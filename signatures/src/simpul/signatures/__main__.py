from simpul.shared.serve import serve
from simpul.signatures.app import create_app
from simpul.signatures.settings import SignaturesSettings

settings = SignaturesSettings()
serve(create_app(settings), settings.host, settings.port, settings.log_level)
