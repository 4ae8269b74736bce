-- Scenario (g): each request carries a random Host among h0..h<ROUTES-1><SUFFIX>, the hosts
-- remap_bench loaded into turnout, so route lookups miss the CPU caches the way a big table does.
local n = tonumber(os.getenv("ROUTES") or "") or 1000
local suffix = os.getenv("SUFFIX") or ".r.test"
math.randomseed(os.time())
local headers = {}
request = function()
  headers["Host"] = "h" .. math.random(0, n - 1) .. suffix
  return wrk.format("GET", "/", headers)
end
