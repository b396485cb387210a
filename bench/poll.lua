-- wrk script: POST /poll rotating the device tokens of TOKENS (a file of
-- "site_id device_token" lines) and varying the heartbeat body.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  tokens[#tokens + 1] = line:match("%S+%s+(%S+)")
end
local i = 0
wrk.method = "POST"
request = function()
  i = i + 1
  local t = tokens[(i % #tokens) + 1]
  local body = "name=bench-" .. (i % 997) .. ";version=7.16 (stable);uptime=" .. (i % 86400)
    .. "s;cpu-load=" .. (i % 100) .. ";free-memory=" .. (500000000 + i % 1000)
  return wrk.format("POST", "/poll", {["Authorization"] = "Bearer " .. t,
    ["Content-Type"] = "text/plain"}, body)
end
