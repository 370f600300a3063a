-- wrk script: sends prepared requests, one "path<TAB>authorization" per line of the file named by
-- the REQUESTS environment variable. With THREADS threads, thread i sends lines i, i+THREADS, ...
-- so no two threads send the same line before the whole file has been sent.
--
-- With ONCE=1 no line is sent twice (a pool of distinct callers): each thread keeps only its own
-- lines, and stops once it has sent them, so the load ends early instead of repeating callers.
-- done() prints how many requests repeated a line anyway (a connection asking while its thread's
-- stop takes effect), so the caller can say so.
local requests = {}
local index = 0
local step = 1
local once = false
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  step = tonumber(os.getenv("THREADS") or "1")
  once = os.getenv("ONCE") == "1"
  local number = 0
  for line in io.lines(os.getenv("REQUESTS")) do
    if not once or number % step == id then
      local path, authorization = line:match("^([^\t]+)\t(.+)$")
      requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = authorization })
    end
    number = number + 1
  end
  if once then step = 1 else index = id end
  repeated = 0
end

function request()
  if once and index >= #requests - 1 then
    wrk.thread:stop()
    if index >= #requests then
      repeated = repeated + 1
      return requests[#requests]
    end
  end
  local next = requests[index % #requests + 1]
  index = index + step
  return next
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + (thread:get("repeated") or 0) end
  io.write(string.format("repeated requests: %d\n", total))
end
