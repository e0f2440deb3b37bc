#!/usr/bin/env bash
# The parallel-h5py tutorial's write with curl alone: a 42-element int32 dataset /test in
# output.h5 holding 0..41 (one element per rank on a 42-rank pool). Creates the dataset,
# writes it, waits for the job, reads it back and checks it.
#
#   PH5_URL=http://127.0.0.1:8080 PH5_TOKEN=... bash seed.sh [FILE]
#
# FILE defaults to output.h5. PH5_TOKEN may be unset when authentication is off.
# Needs only bash, curl, sed and grep (no jq).
set -euo pipefail

URL=${PH5_URL:-http://127.0.0.1:8080}
URL=${URL%/}
FILE=${1:-output.h5}
auth=()
[[ -n ${PH5_TOKEN:-} ]] && auth=(-H "Authorization: Bearer $PH5_TOKEN")

# call METHOD PATH [curl args...]: sends the request; sets STATUS and BODY.
# (-g: [..] in a URL is a selection, not a curl glob.)
STATUS= BODY= SENT=
call() {
  local out
  SENT="$1 $2"
  out=$(curl -sS -g -X "$1" "${auth[@]}" -w '\n%{http_code}' "${@:3}" "$URL$2")
  STATUS=${out##*$'\n'}
  BODY=${out%$'\n'*}
}
# expect CODE...: fails, showing the answer (problem+json with a stable code), unless STATUS is one of them.
expect() {
  local code
  for code; do [[ $STATUS == "$code" ]] && return 0; done
  echo "$SENT -> HTTP $STATUS $BODY" >&2
  return 1
}

# The first "id" of a 202 answer {"job": {"id": "…", …}} is the job's.
job_id() { grep -o '"id":"[^"]*"' <<<"$BODY" | head -n1 | cut -d'"' -f4; }

# wait_job ID: long-polls (?wait=30) until the job is completed; fails if it failed.
wait_job() {
  for _ in $(seq 20); do
    call GET "/v1/jobs/$1?wait=30"
    expect 200
    case $BODY in
      *'"state":"completed"'*) return 0 ;;
      *'"state":"failed"'*) echo "job $1 failed: $BODY" >&2; return 1 ;;
    esac
  done
  echo "job $1 did not finish in 10 minutes" >&2
  return 1
}

# 1. Create the dataset (and the file). 409: it exists already — fine, write it again.
jobs=()
call POST "/v1/files/$FILE/datasets" -H 'Content-Type: application/json' \
     -d '{"path": "/test", "dtype": "int32", "shape": [42]}'
expect 202 409
if [[ $STATUS == 202 ]]; then jobs+=("$(job_id)"); else echo "/test exists in $FILE already: writing it again"; fi

# 2. Write 0..41, as JSON. Sent at once: jobs on a file run in the order they were accepted.
values="[$(seq -s, 0 41)]"
call PUT "/v1/files/$FILE/datasets/test/value?select=[0:42]" -H 'Content-Type: application/json' -d "$values"
expect 202
jobs+=("$(job_id)")

# 3. Wait for the jobs.
for id in "${jobs[@]}"; do wait_job "$id"; done
echo "jobs completed: ${jobs[*]}"

# 4. Read it back as JSON ({"dtype":…,"shape":…,"data":[…]}) and compare.
call GET "/v1/files/$FILE/datasets/test/value"
expect 200
data=$(sed -n 's/.*"data":\(\[[^]]*\]\).*/\1/p' <<<"$BODY")
if [[ $data != "$values" ]]; then
  echo "read back $data, expected $values" >&2
  exit 1
fi
echo "ok: $FILE:/test int32 [42] = 0..41 written and read back"
