from simpul.shared.serve import load_settings, serve
from simpul.catalog.app import create_app
from simpul.catalog.settings import CatalogSettings

settings = load_settings(CatalogSettings)
serve(create_app(settings), settings.host, settings.port, settings.log_level)
