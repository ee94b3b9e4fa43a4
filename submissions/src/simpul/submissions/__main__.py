from simpul.submissions.app import create_app
from simpul.submissions.settings import SubmissionsSettings
from simpul.shared.serve import main

main(create_app, SubmissionsSettings)
