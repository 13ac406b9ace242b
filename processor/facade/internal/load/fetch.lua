-- wrk script: fetches of random seeded customers (see ../seed). Customer
-- ids are seq*PARTS + TASK, TASK being the org's task.
-- env: KEY, SEED_N (default 10000), PARTS (default 4), TASK (default 1: org 100 of 4)
local n = tonumber(os.getenv("SEED_N") or "10000")
local parts = tonumber(os.getenv("PARTS") or "4")
local task = tonumber(os.getenv("TASK") or "1")
local auth = { ["Authorization"] = "Bearer " .. os.getenv("KEY") }
request = function()
  local id = math.random(1, n) * parts + task
  return wrk.format("GET", string.format("/v2/customers/%d?source=ALL", id), auth)
end
