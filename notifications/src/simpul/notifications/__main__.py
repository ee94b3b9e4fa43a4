from simpul.shared.serve import load_settings, serve
from simpul.notifications.app import create_app
from simpul.notifications.settings import NotificationsSettings

settings = load_settings(NotificationsSettings)
serve(create_app(settings), settings.host, settings.port, settings.log_level)
