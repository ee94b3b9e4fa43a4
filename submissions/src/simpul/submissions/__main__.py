from simpul.shared.serve import serve
from simpul.submissions.app import create_app
from simpul.submissions.settings import SubmissionsSettings

settings = SubmissionsSettings()
serve(create_app(settings), settings.host, settings.port, settings.log_level)
