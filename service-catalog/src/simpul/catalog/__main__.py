from simpul.catalog.app import create_app
from simpul.catalog.settings import CatalogSettings
from simpul.shared.serve import main

main(create_app, CatalogSettings)
