from simpul.shared.serve import load_settings, serve
from simpul.submissions.app import create_app
from simpul.submissions.settings import SubmissionsSettings

settings = load_settings(SubmissionsSettings)
serve(create_app(settings), settings.host, settings.port, settings.log_level)
