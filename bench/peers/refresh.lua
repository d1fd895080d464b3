-- wrk script: refresh grants, each thread rotating its own refresh tokens round-robin.
-- Run with as many connections as threads, so a thread's requests and answers alternate and
-- every answer's new refresh token replaces the one just spent. Arguments after `--`: path,
-- the form body before the token (e.g. "grant_type=refresh_token&refresh_token="), a file with
-- one refresh token per line, and how many lines each thread takes (thread n takes lines
-- n*k+1 .. n*k+k). A 503 (authplane: the rotation is not projected in this region yet) keeps
-- the token and moves on; it is counted as a retry, not a grant.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  prefix = args[2]
  local per = tonumber(args[4])
  tokens = {}
  local line_no = 0
  for line in io.lines(args[3]) do
    if line_no >= id * per and line_no < (id + 1) * per then
      table.insert(tokens, line)
    end
    line_no = line_no + 1
  end
  headers = {}
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  slot = 1
  good = 0
  bad = 0
  retry = 0
  headers["Host"] = host_header()
end

function request()
  return wrk.format("POST", path, headers, prefix .. tokens[slot])
end

function response(status, hdrs, body)
  if status == 200 then
    local token = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      tokens[slot] = token
      good = good + 1
    else
      count_bad(status)
    end
  elseif status == 503 then
    retry = retry + 1
  else
    count_bad(status)
  end
  slot = slot % #tokens + 1
end

function done(summary, latency, requests)
  report_threads(threads, summary, latency)
end
