from simpul.notifications.app import create_app
from simpul.notifications.commands import COMMANDS
from simpul.notifications.settings import NotificationsSettings
from simpul.shared.serve import main, without_arguments

main(create_app, NotificationsSettings, commands=without_arguments(COMMANDS))
