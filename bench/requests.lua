-- wrk script: cycles through prepared requests, one "path<TAB>authorization" per line of the
-- file named by the REQUESTS environment variable. Each thread starts at its own offset.
local requests = {}
local index = 0

function init(args)
  for line in io.lines(os.getenv("REQUESTS")) do
    local path, authorization = line:match("^([^\t]+)\t(.+)$")
    requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = authorization })
  end
  index = math.random(#requests)
end

function request()
  index = index % #requests + 1
  return requests[index]
end
