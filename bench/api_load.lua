-- wrk script for bench/api_load.py: POST /api/v1/purchases/ with a unique receipt number per
-- request, a random member and one to three realistic lines (the bench programme's rules:
-- pastries earn double, beans earn a bonus, over €30 earns a bonus).
--
--   wrk -t1 -c16 -d20s -s bench/api_load.lua http://127.0.0.1:8765/api/v1/purchases/ \
--       -- <api key> <lowest member id> <highest member id> <run id>
--
-- Prints one line "STATUSES {json}" at the end: how many responses of each HTTP status.

local threads = {}
local counter = 0
local low, high, run = 1, 1, "run"

local items = {
  { "COF-CAP", "coffee", "Cappuccino", 390 },
  { "COF-LAT", "coffee", "Caffe latte", 420 },
  { "PAS-KOR", "pastry", "Cinnamon bun", 350 },
  { "SAN-SAL", "sandwich", "Smoked salmon on rye", 850 },
  { "BEANS-250", "beans", "House blend beans, 250 g", 1290 },
}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  low, high, run = tonumber(args[2]), tonumber(args[3]), args[4]
  math.randomseed(os.time() + 7919 * tid)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  statuses = {}
end

local function cents(n)
  return string.format("%d.%02d", math.floor(n / 100), n % 100)
end

function request()
  counter = counter + 1
  -- one to three different items, each one to three times
  local picked, lines, total = {}, {}, 0
  for _ = 1, math.random(1, 3) do
    local i = math.random(1, #items)
    if not picked[i] then
      picked[i] = true
      local item, quantity = items[i], math.random(1, 3)
      local amount = item[4] * quantity
      total = total + amount
      lines[#lines + 1] = string.format(
        '{"sku": "%s", "category": "%s", "description": "%s", "quantity": %d, "amount": "%s"}',
        item[1], item[2], item[3], quantity, cents(amount))
    end
  end
  local body = string.format(
    '{"member": %d, "total": "%s", "external_id": "%s-%d-%d", "lines": [%s]}',
    math.random(low, high), cents(total), run, tid, counter, table.concat(lines, ", "))
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for status, n in pairs(counts) do
      all[status] = (all[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(all) do
    parts[#parts + 1] = string.format('"%d": %d', status, n)
  end
  io.write("STATUSES {" .. table.concat(parts, ", ") .. "}\n")
end
