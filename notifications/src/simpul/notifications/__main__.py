from simpul.notifications.app import create_app
from simpul.notifications.settings import NotificationsSettings
from simpul.shared.serve import main

main(create_app, NotificationsSettings)
