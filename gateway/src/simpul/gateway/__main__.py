from simpul.shared.serve import load_settings, serve
from simpul.gateway.app import create_app
from simpul.gateway.settings import GatewaySettings

settings = load_settings(GatewaySettings)
serve(create_app(settings, freeze_heap=True), settings.host, settings.port, settings.log_level)
