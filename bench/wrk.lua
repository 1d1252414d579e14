-- Signed Shortcut events for wrk, one per request, none repeated while the
-- file lasts (storybridge dedupes event ids; a repeat would measure less work).
-- The file (BENCH_REQUESTS) holds one "signature<TAB>body" per line.
local requests = {}
local counter = 0
local threads = 0

function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    requests[#requests + 1] = line
  end
  -- Threads start half the file apart (wrk runs two here). Several wrk at once
  -- (one per replica) each take their part: BENCH_PART of BENCH_PARTS.
  local part = tonumber(os.getenv("BENCH_PART") or "0")
  local parts = tonumber(os.getenv("BENCH_PARTS") or "1")
  counter = (part * 2 + thread_index) * math.floor(#requests / (parts * 2))
end

function request()
  counter = counter + 1
  local line = requests[(counter - 1) % #requests + 1]
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Payload-Signature"] = line:sub(1, tab - 1),
  }, line:sub(tab + 1))
end
