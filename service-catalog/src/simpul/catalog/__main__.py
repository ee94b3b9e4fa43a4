from simpul.shared.serve import serve
from simpul.catalog.app import create_app
from simpul.catalog.settings import CatalogSettings

settings = CatalogSettings()
serve(create_app(settings), settings.host, settings.port, settings.log_level)
