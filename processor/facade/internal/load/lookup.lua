-- wrk script: lookups of random seeded mobiles (see ../seed).
-- env: KEY (API key), SEED_N (customers seeded, default 10000)
local n = tonumber(os.getenv("SEED_N") or "10000")
local auth = { ["Authorization"] = "Bearer " .. os.getenv("KEY") }
request = function()
  local value = string.format("%d", 919000000000 + math.random(0, n - 1))
  return wrk.format("GET", "/v2/customers/lookup?source=INSTORE&identifierName=mobile&identifierValue=" .. value, auth)
end
