-- wrk script: sends prepared requests, one "path<TAB>authorization" per line of the file named by
-- the REQUESTS environment variable. With THREADS threads, thread i sends lines i, i+THREADS, ...
-- so no two threads send the same line before the whole file has been sent.
local requests = {}
local index = 0
local step = 1
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(os.getenv("REQUESTS")) do
    local path, authorization = line:match("^([^\t]+)\t(.+)$")
    requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = authorization })
  end
  step = tonumber(os.getenv("THREADS") or "1")
  index = id
end

function request()
  local next = requests[index % #requests + 1]
  index = index + step
  return next
end
