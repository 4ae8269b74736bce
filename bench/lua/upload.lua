-- Scenario (d): every request is a POST with a 10 MiB body (BODY_BYTES overrides the size).
-- wrk builds the request once, so the body costs the load generator a memcpy per request, not Lua.
local bytes = tonumber(os.getenv("BODY_BYTES") or "") or 10 * 1024 * 1024
wrk.method = "POST"
wrk.body = string.rep("x", bytes)
wrk.headers["Content-Type"] = "application/octet-stream"
