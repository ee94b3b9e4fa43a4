from simpul.shared.serve import serve
from simpul.notifications.app import create_app
from simpul.notifications.settings import NotificationsSettings

settings = NotificationsSettings()
serve(create_app(settings), settings.host, settings.port, settings.log_level)
