#!/usr/bin/env bash
# The README's journey, end to end, against a running Simpul (`make run` in another terminal):
# admin token, an applicant and an officer client, a demo service's form and documents, submit,
# review and approve, the signed PDF downloaded and verified, survey, complaint, public reports.
# Needs only bash, curl and python3. Every step prints what it did; any unexpected answer stops
# the script with the status and body.
#
#   scripts/walkthrough.sh                       # the gateway at http://127.0.0.1:8000
#   SIMPUL_URL=http://host:port scripts/walkthrough.sh
#
# The bootstrap admin is `make run`'s: SIMPUL_ADMIN_CLIENT_ID / SIMPUL_ADMIN_CLIENT_SECRET when
# set, else the development defaults it prints at start-up.
set -euo pipefail

GW="${SIMPUL_URL:-http://127.0.0.1:${SIMPUL_GATEWAY_PORT:-8000}}"
ADMIN_ID="${SIMPUL_ADMIN_CLIENT_ID:-simpul-admin}"
ADMIN_SECRET="${SIMPUL_ADMIN_CLIENT_SECRET:-simpul-dev-secret}"
SERVICE=REKOM-PINJAMAN-DAERAH   # the demo service whose form the data below fills
REGION=16.71                    # Kota Palembang, the applicant's tenant
ISSUE_TIMEOUT="${SIMPUL_WALKTHROUGH_ISSUE_TIMEOUT:-60}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
BODY="$WORK/body"

step() { printf '\n== %s\n' "$*"; }
say() { printf '   %s\n' "$*"; }

# call EXPECTED_STATUS METHOD PATH [curl arguments...]: the answer's body lands in $BODY; any
# other status stops the script.
call() {
  local expected="$1" method="$2" path="$3"
  shift 3
  local status
  status="$(curl -sS -o "$BODY" -w '%{http_code}' -X "$method" "$GW$path" "$@")"
  if [[ "$status" != "$expected" ]]; then
    printf 'FAILED: %s %s answered %s, expected %s:\n' "$method" "$path" "$status" "$expected" >&2
    head -c 2000 "$BODY" >&2
    echo >&2
    exit 1
  fi
}

# field EXPRESSION: a Python expression over the last JSON answer `j`, printed (for variables).
field() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$BODY" "$1"; }
# show TEMPLATE: a line about the last JSON answer, str.format style ({j[status]}); a missing
# field stops the script like a wrong status does.
show() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print("   " + sys.argv[2].format(j=j))' "$BODY" "$1"; }

new_key() { python3 -c 'import uuid; print(uuid.uuid4())'; }

token() {  # token CLIENT_ID SECRET: an access token (OAuth 2.0 client credentials)
  call 200 POST /v1/oauth/token -d grant_type=client_credentials \
    --data-urlencode "client_id=$1" --data-urlencode "client_secret=$2"
  field 'j["access_token"]'
}

step "0. The gateway is ready: $GW"
call 200 GET /readyz
UPSTREAMS="$(field '", ".join(sorted(j["upstreams"]))')"
say "upstreams: $UPSTREAMS"

step "1. An access token for the bootstrap admin ($ADMIN_ID)"
ADMIN="$(token "$ADMIN_ID" "$ADMIN_SECRET")"
say "token: ${ADMIN:0:24}..."

step "2. The demo service $SERVICE: its form and the documents it requires"
call 200 GET "/v1/services/$SERVICE" -H 'Accept-Language: en'
UNIT="$(field 'j["unit"]')"
show '{j[name]} -- unit {j[unit]}, version {j[version]}, SLA {j[sla_working_days]} working days'
FORM_FIELDS="$(field '", ".join(j["form_schema"]["required"])')"
say "form fields required: $FORM_FIELDS"
REQUIRED_DOCUMENTS="$(field '" ".join(r["code"] for r in j["requirements"] if r["required"])')"
say "documents required: $REQUIRED_DOCUMENTS"

step "3. API clients: an applicant for region $REGION and an officer of unit $UNIT (secrets shown once)"
call 201 POST /v1/admin/clients -H "Authorization: Bearer $ADMIN" -H "Idempotency-Key: $(new_key)" \
  -H 'Content-Type: application/json' \
  -d '{"name": "Pemerintah Kota Palembang", "role": "applicant", "tenant": "'"$REGION"'"}'
APPLICANT_ID="$(field 'j["client_id"]')"
APPLICANT_SECRET="$(field 'j["client_secret"]')"
say "applicant client: $APPLICANT_ID"
call 201 POST /v1/admin/clients -H "Authorization: Bearer $ADMIN" -H "Idempotency-Key: $(new_key)" \
  -H 'Content-Type: application/json' \
  -d '{"name": "Petugas layanan '"$UNIT"'", "role": "officer", "tenant": "'"$UNIT"'"}'
OFFICER_ID="$(field 'j["client_id"]')"
OFFICER_SECRET="$(field 'j["client_secret"]')"
say "officer client: $OFFICER_ID"
APP="$(token "$APPLICANT_ID" "$APPLICANT_SECRET")"
OFFICER="$(token "$OFFICER_ID" "$OFFICER_SECRET")"

step "4. The applicant creates a submission; data follows the service's form_schema"
cat > "$WORK/submission.json" <<JSON
{
  "service_code": "$SERVICE",
  "applicant": {"name": "Bagian Hukum Kota Palembang", "email": "hukum@palembang.go.id", "language": "en"},
  "data": {
    "kode_daerah": "$REGION",
    "sumber_pinjaman": "pt_smi",
    "nama_pemberi_pinjaman": "PT Sarana Multi Infrastruktur (Persero)",
    "jangka_waktu": "menengah",
    "jumlah_pinjaman": 150000000000,
    "tenor_bulan": 60,
    "peruntukan": "Pembangunan jaringan drainase dan jalan lingkungan di empat kecamatan",
    "apbd_tahun": 2026,
    "pendapatan_daerah": 4200000000000,
    "dscr": 3.1,
    "narahubung": {"nama": "Siti Rahmawati", "email": "siti.rahmawati@palembang.go.id", "telepon": "+62 711 123456"}
  }
}
JSON
call 201 POST /v1/submissions -H "Authorization: Bearer $APP" -H "Idempotency-Key: $(new_key)" \
  -H 'Content-Type: application/json' --data-binary "@$WORK/submission.json"
ID="$(field 'j["id"]')"
TRACKING_CODE="$(field 'j["tracking_code"]')"
show 'submission {j[id]}, tracking code {j[tracking_code]}, status {j[status]}'

step "5. Every required document, uploaded (multipart requirement_code + file)"
for REQUIREMENT in $REQUIRED_DOCUMENTS; do
  # A small PDF standing in for the scanned letter each requirement asks for.
  printf '%%PDF-1.4\n%% %s\n1 0 obj <<>> endobj\ntrailer <<>>\n%%%%EOF\n' "$REQUIREMENT" > "$WORK/$REQUIREMENT.pdf"
  call 201 POST "/v1/submissions/$ID/documents" -H "Authorization: Bearer $APP" \
    -F "requirement_code=$REQUIREMENT" -F "file=@$WORK/$REQUIREMENT.pdf;type=application/pdf"
  show '{j[requirement_code]}: document {j[id]}, {j[size]} bytes, sha256 {j[sha256]:.16}...'
done

step "6. Submit: the receipt and the due date (working days, holidays excluded)"
call 200 POST "/v1/submissions/$ID/submit" -H "Authorization: Bearer $APP"
show 'status {j[status]}, receipt {j[receipt][number]}, due {j[due_at]}'

step "7. Anyone can follow it by its tracking code (no personal data)"
call 200 GET "/v1/track/$TRACKING_CODE"
show 'status {j[status]}, due {j[due_at]}'

step "8. The officer of unit $UNIT reviews and approves"
call 200 POST "/v1/submissions/$ID/actions" -H "Authorization: Bearer $OFFICER" \
  -H 'Content-Type: application/json' -d '{"action": "start_review"}'
show 'status {j[status]}'
call 200 POST "/v1/submissions/$ID/actions" -H "Authorization: Bearer $OFFICER" \
  -H 'Content-Type: application/json' -d '{"action": "approve", "note": "Persyaratan lengkap dan DSCR memenuhi."}'
show 'status {j[status]}'

step "9. Waiting for the signed document to be issued (at most $ISSUE_TIMEOUT s)"
deadline=$((SECONDS + ISSUE_TIMEOUT))
while :; do
  call 200 GET "/v1/submissions/$ID" -H "Authorization: Bearer $APP"
  STATUS="$(field 'j["status"]')"
  [[ "$STATUS" == issued ]] && break
  if ((SECONDS >= deadline)); then
    echo "FAILED: submission $ID still $STATUS after $ISSUE_TIMEOUT s" >&2
    exit 1
  fi
  sleep 1
done
DOCUMENT_ID="$(field 'j["issued_documents"][0]["document_id"]')"
show 'issued: document {j[issued_documents][0][document_id]}, verify at {j[issued_documents][0][verify_url]}'

step "10. The signed PDF, downloaded"
call 200 GET "/v1/documents/$DOCUMENT_ID/content" -H "Authorization: Bearer $APP"
cp "$BODY" "$WORK/issued.pdf"
[[ "$(head -c 5 "$WORK/issued.pdf")" == "%PDF-" ]] || { echo "FAILED: the document is not a PDF" >&2; exit 1; }
say "$(wc -c < "$WORK/issued.pdf") bytes of PDF"

step "11. Anyone can verify it: by its id, and by uploading the file"
call 200 GET "/v1/verify/$DOCUMENT_ID"
[[ "$(field 'j["valid"]')" == True ]] || { echo "FAILED: the document is not valid" >&2; cat "$BODY" >&2; exit 1; }
show 'by id: valid, issued {j[issued_at]} by {j[issuer]}'
call 200 POST /v1/verify -F "file=@$WORK/issued.pdf;type=application/pdf"
[[ "$(field 'j["valid"]')" == True ]] || { echo "FAILED: the uploaded file is not valid" >&2; cat "$BODY" >&2; exit 1; }
say "by upload: valid"
call 200 GET /v1/pki/ca
say "the root every document chains to: $(head -n 1 "$BODY")"

step "12. The applicant answers the satisfaction survey (SKM, each element 1-4)"
call 201 POST "/v1/submissions/$ID/survey" -H "Authorization: Bearer $APP" -H 'Content-Type: application/json' \
  -d '{"requirements": 4, "procedure": 3, "timeliness": 3, "cost": 4, "product": 3, "competence": 4, "behaviour": 4, "complaint_handling": 3, "facilities": 3}'
say "survey recorded"

step "13. The applicant files a complaint"
call 201 POST /v1/complaints -H "Authorization: Bearer $APP" -H "Idempotency-Key: $(new_key)" \
  -H 'Content-Type: application/json' \
  -d '{"submission_id": "'"$ID"'", "category": "timeliness", "text": "Mohon informasi jadwal penyerahan surat asli."}'
show 'complaint {j[id]}, status {j[status]}'

step "14. What the services achieve, in public"
YEAR="$(date -u +%Y)"
call 200 GET "/v1/reports/ikm?service_code=$SERVICE&from=$YEAR-01-01&to=$YEAR-12-31"
show 'IKM of {j[service_code]}: {j[respondents]} respondent(s) this year, index {j[ikm]} (published from {j[minimum_respondents]} respondents)'
call 200 GET "/v1/reports/performance?from=$YEAR-01-01&to=$YEAR-12-31" -H 'Accept: text/csv'
say "performance (CSV): $(head -n 1 "$BODY")"

printf '\nDone: submission %s issued document %s, verified.\n' "$ID" "$DOCUMENT_ID"
