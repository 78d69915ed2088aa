package redisstore

import (
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/wrctl/wrctl/internal/room"
)

// Every script works on one event, whose keys share the hash tag {eventId}
// and so one Redis Cluster slot: KEYS[1] is the event's meta hash (it routes
// the script), the other keys are derived from ARGV[1], the event's key base
// "PREFIX:{EVENT}". Session keys are found through the event's sorted sets,
// always inside that same slot.
//
// ARGV: 1 base, 2 now (ms; empty: the Redis server's TIME, the room's one
// clock), 3 ended retention (ms), 4 heartbeatTTL (ms), 5 waitingTTL (ms),
// 6 maxActive (ms), 7 freed channel, 8 event id, 9 capacity, 10 maxWaiting
// (0: none), 11 enqueue grace (ms), 12 idle event retention (ms), then
// per-script arguments from 13, and last of all five policy arguments:
// newUsersPerMinute (0: no rate cap), opensAt, startsAt, endsAt (Unix ms, 0:
// none), the queueing method and queueAll ("1": no join is admitted at
// once), then the changes channel (room.Change
// news, published as "event session status", session "-" for the whole
// event).
// Settings stored in the meta hash (s_cap, s_hb, s_wt, s_ma, s_mw, s_paused,
// s_nupm, s_open, s_start, s_end, s_method) override them.
//
// Each script first ends the event's sessions whose deadline has passed, as
// the memory store does before every operation, and publishes the event on
// the freed channel when an ACTIVE slot was released. Past the event's
// start, while its pre-queue is not yet shuffled into the line, a script
// answers the error startPending without changing anything: the store then
// shuffles (startScript) and runs the script again.
var preamble = prelude(true)

// startPending is the error a script answers while the event's start is
// due and its pre-queue not yet shuffled.
const startPending = "WRCTL_START"

func prelude(checkStart bool) string {
	check := ""
	if checkStart {
		check = `
if not closing and started() and redis.call('EXISTS', pq) == 1 then
  return redis.error_reply('` + startPending + ` the pre-queue of ' .. event .. ' is due to be shuffled')
end
`
	}
	return preludeHead + check + preludeBody
}

var preludeHead = `
local tau = ` + strconv.FormatInt(room.RateTau.Milliseconds(), 10) + `
local base = ARGV[1]
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local retention = tonumber(ARGV[3])
local hbTTL = tonumber(ARGV[4])
local waitTTL = tonumber(ARGV[5])
local maxActive = tonumber(ARGV[6])
local channel = ARGV[7]
local event = ARGV[8]
local capacity = tonumber(ARGV[9])
local maxWaiting = tonumber(ARGV[10])
local grace = tonumber(ARGV[11])
local eventRetention = tonumber(ARGV[12])
local tail = #ARGV - 6
local queueAll = ARGV[tail + 5] == '1'
local changes = ARGV[tail + 6]
local nupm = tonumber(ARGV[tail])
local opensAt = tonumber(ARGV[tail + 1])
local startsAt = tonumber(ARGV[tail + 2])
local endsAt = tonumber(ARGV[tail + 3])
local method = ARGV[tail + 4]
local meta = KEYS[1]
local wait = base .. ':wait'
local act = base .. ':act'
local wdl = base .. ':wdl'
local pq = base .. ':pq'
local freed = false
local ended = 0
local paused = false

-- Runtime settings (the admin API) override the configured policy.
local function load_settings()
  capacity, hbTTL, waitTTL, maxActive, maxWaiting = tonumber(ARGV[9]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[10])
  nupm, opensAt, startsAt, endsAt, method = tonumber(ARGV[tail]), tonumber(ARGV[tail + 1]), tonumber(ARGV[tail + 2]), tonumber(ARGV[tail + 3]), ARGV[tail + 4]
  local ov = redis.call('HMGET', meta, 's_cap', 's_hb', 's_wt', 's_ma', 's_mw', 's_paused', 's_nupm',
    's_open', 's_start', 's_end', 's_method')
  if ov[7] then nupm = tonumber(ov[7]) end
  if ov[8] then opensAt = tonumber(ov[8]) end
  if ov[9] then startsAt = tonumber(ov[9]) end
  if ov[10] then endsAt = tonumber(ov[10]) end
  if ov[11] then method = ov[11] end
  if ov[1] then capacity = tonumber(ov[1]) end
  if ov[2] then hbTTL = tonumber(ov[2]) end
  if ov[3] then waitTTL = tonumber(ov[3]) end
  if ov[4] then maxActive = tonumber(ov[4]) end
  if ov[5] then maxWaiting = tonumber(ov[5]) end
  paused = ov[6] == '1'
end
load_settings()

-- The schedule and the method (room.Policy.Phase and Closed). Admission
-- runs, and the pre-queue is shuffled into the line, once the event is
-- both open and started (room.Policy.LiveAt).
local liveAt = math.max(opensAt, startsAt)
local function started() return now >= liveAt end
local closing = false
if endsAt > 0 and now >= endsAt then
  closing = 'event_ended'
elseif method == 'reject' then
  closing = 'rejected'
end
`

var preludeBody = `
-- A session's record is a hash of short fields: u user, q ticket, st
-- status, e enqueued (0/1), c created, s last seen, x expires, a activated,
-- d ended, r end reason, n admission number, k idempotency key hash, uv
-- user verified; the times in Unix ms, a field absent until it is set.
-- Its id and event are in its key.
local function skey(sid) return base .. ':s:' .. sid end

-- The event's audit log (package audit): one entry per list item, in the
-- one order of the list; the reader numbers, expands and chains them. The
-- settings in force come first. The entries of every session are packed
-- (decodeAudit reads them): 'j AT TICKET REF PRE', 'a AT TICKET ADMISSION
-- ACTIVE', 'l AT TICKET REASON' and 'e AT TICKET REASON'; the rare ones
-- (settings, commit, draw) are JSON.
local auditLog = base .. ':log'
local function settings_json()
  local m = method
  if m == '' then m = 'fifo' end
  return string.format('{"type":"settings","at":%.0f,"settings":{"capacity":%.0f,"newUsersPerMinute":%.0f,"queueingMethod":"%s","paused":%s,"opensAt":%.0f,"startsAt":%.0f,"endsAt":%.0f}}',
    now, capacity, nupm, m, tostring(paused), opensAt, startsAt, endsAt)
end
local function audit(entry)
  if redis.call('LLEN', auditLog) == 0 then redis.call('RPUSH', auditLog, settings_json()) end
  redis.call('RPUSH', auditLog, entry)
end
local function audit_end(sid, kind, reason)
  audit(string.format('%s %.0f %s %s', kind, now, redis.call('HGET', skey(sid), 'q') or '0', reason))
end
local users = base .. ':us' -- user id → the live session's id

-- keep ties the session's record to live until deadline + retention
local function keep(sid, deadline)
  local ttl = math.max(deadline - now, 0) + retention
  redis.call('PEXPIRE', skey(sid), ttl)
end

-- finish moves a live session to a final status and frees what it held.
local function finish(sid, status, reason, at)
  local k = skey(sid)
  local st = redis.call('HGET', k, 'st')
  redis.call('ZREM', wait, sid)
  redis.call('ZREM', pq, sid)
  redis.call('ZREM', wdl, sid)
  if redis.call('ZREM', act, sid) == 1 then freed = true end
  if st ~= 'WAITING' and st ~= 'ACTIVE' then return end
  if status == 'LEFT' then audit_end(sid, 'l', reason) else audit_end(sid, 'e', reason) end
  if st == 'WAITING' then redis.call('PUBLISH', changes, event .. ' ' .. sid .. ' ' .. status) end
  if status == 'LEFT' then
    redis.call('HINCRBY', meta, 'left', 1)
  else
    redis.call('HINCRBY', meta, 'expired', 1)
    redis.call('HINCRBY', meta, 'exp_' .. reason, 1)
  end
  redis.call('HSET', k, 'st', status, 'r', reason, 'd', at)
  local user = redis.call('HGET', k, 'u')
  if user and redis.call('HGET', users, user) == sid then redis.call('HDEL', users, user) end
  redis.call('PEXPIRE', k, retention)
  ended = ended + 1
end

local function expire_due()
  local due = redis.call('ZRANGEBYSCORE', act, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #due, 2 do
    local sid, dl = due[i], tonumber(due[i + 1])
    local activated = tonumber(redis.call('HGET', skey(sid), 'a') or '0')
    local reason = 'heartbeat'
    if dl >= activated + maxActive then reason = 'max_active' end
    finish(sid, 'EXPIRED', reason, dl)
  end
  due = redis.call('ZRANGEBYSCORE', wdl, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #due, 2 do
    finish(due[i], 'EXPIRED', 'abandoned', tonumber(due[i + 1]))
  end
end

-- close_line ends the WAITING sessions of a closed line (ended, or
-- rejecting), a batch at a time.
local function close_line()
  if not closing then return end
  for _, set in ipairs({pq, wait}) do
    for _, sid in ipairs(redis.call('ZRANGE', set, 0, 4999)) do
      finish(sid, 'EXPIRED', closing, now)
    end
  end
end

local function publish()
  if freed then redis.call('PUBLISH', channel, event) end
end

-- rate_now is room.Rate.PerSecond capped by room.Policy.CapRate: the
-- event's decayed admission rate, 0 when nothing was admitted for
-- room.RateStale.
local function rate_now()
  local m = redis.call('HMGET', meta, 'rate', 'rateAt', 'rateFirst')
  local first = tonumber(m[3] or '0') or 0
  if first == 0 or now - tonumber(m[2]) >= ` + strconv.FormatInt(room.RateStale.Milliseconds(), 10) + ` then return 0 end
  local v = tonumber(m[1]) * math.exp(-math.max(now - tonumber(m[2]), 0) / tau)
  local span = math.max(now - first, 1000)
  local r = v / (1 - math.exp(-span / tau)) * 1000
  -- room.Policy.CapRate: never above newUsersPerMinute.
  if nupm > 0 and r > nupm / 60 then r = nupm / 60 end
  return r
end

-- rate_add is room.Rate.Add: one admission at now.
local function rate_add()
  local m = redis.call('HMGET', meta, 'rate', 'rateAt', 'rateFirst')
  local v, at, first = tonumber(m[1] or '0') or 0, tonumber(m[2] or '0') or 0, tonumber(m[3] or '0') or 0
  if first == 0 then first = now end
  v = v * math.exp(-math.max(now - at, 0) / tau) + 1 / tau
  redis.call('HSET', meta, 'rate', tostring(v), 'rateAt', now, 'rateFirst', first)
end

-- view is the session's fields, with its position and the event's
-- admission rate while WAITING; false for a session ended longer ago than
-- the retention (by the room's clock; its key's TTL follows).
local function view(sid)
  local h = redis.call('HGETALL', skey(sid))
  if #h == 0 then return false end
  table.insert(h, 'id')
  table.insert(h, sid)
  table.insert(h, 'event')
  table.insert(h, event)
  for i = 1, #h, 2 do
    if h[i] == 'd' and tonumber(h[i + 1]) > 0 and tonumber(h[i + 1]) + retention <= now then return false end
  end
  local r = redis.call('ZRANK', wait, sid)
  local pre = not r and redis.call('ZSCORE', pq, sid)
  if r then
    table.insert(h, 'pos')
    table.insert(h, r + 1)
    table.insert(h, 'rate')
    table.insert(h, tostring(rate_now()))
  elseif pre then
    table.insert(h, 'pq')
    table.insert(h, 1)
    table.insert(h, 'starts')
    table.insert(h, startsAt)
  end
  if r or pre then
    table.insert(h, 'wttl')
    table.insert(h, waitTTL)
    table.insert(h, 'method')
    table.insert(h, method)
    if paused then
      table.insert(h, 'paused')
      table.insert(h, 1)
    end
  end
  return h
end

local function live(st) return st == 'WAITING' or st == 'ACTIVE' end

-- abort_session removes a WAITING session as if it never joined.
local function abort_session(sid)
  local k = skey(sid)
  audit_end(sid, 'e', 'aborted')
  local user = redis.call('HGET', k, 'u')
  redis.call('ZREM', wait, sid)
  redis.call('ZREM', pq, sid)
  redis.call('ZREM', wdl, sid)
  if user and redis.call('HGET', users, user) == sid then redis.call('HDEL', users, user) end
  redis.call('DEL', k)
  redis.call('HINCRBY', meta, 'joined', -1)
end

-- longest_poll is room.LongestPoll: the longest a WAITING session is
-- asked to wait before its next status request.
local function longest_poll()
  return math.ceil(math.max(waitTTL / 3, 1000) / 1000) * 1000
end

-- activate makes a session ACTIVE now, taken out of the line. Admitted
-- from the line (fromLine), its first deadline covers its next due poll
-- (room.Policy.FirstDeadline) and the change is published.
local function activate(sid, fromLine)
  local due = now
  if fromLine then
    due = math.max(now, tonumber(redis.call('HGET', skey(sid), 's')) + longest_poll())
  end
  local dl = math.min(due + hbTTL, now + maxActive)
  local n = redis.call('ZCARD', act)
  redis.call('ZREM', wait, sid)
  redis.call('ZREM', wdl, sid)
  redis.call('ZADD', act, dl, sid)
  local adm = redis.call('HINCRBY', meta, 'admseq', 1)
  redis.call('HSET', skey(sid), 'st', 'ACTIVE', 'a', now, 's', now, 'x', dl, 'n', adm)
  audit(string.format('a %.0f %s %.0f %.0f', now, redis.call('HGET', skey(sid), 'q'), adm, n + 1))
  redis.call('HINCRBY', meta, 'admitted', 1)
  rate_add()
  if n + 1 > tonumber(redis.call('HGET', meta, 'peak') or '0') then
    redis.call('HSET', meta, 'peak', n + 1)
  end
  keep(sid, dl)
  if fromLine then redis.call('PUBLISH', changes, event .. ' ' .. sid .. ' ACTIVE') end
end

-- take_token is room.Bucket.Take on the event's token bucket of
-- admissions (a second's worth): true, or false and when one will be.
local function take_token()
  local burst = math.max(1, nupm / 60)
  local b = redis.call('HMGET', meta, 'tb', 'tbAt')
  local tokens, at = tonumber(b[1] or ''), tonumber(b[2] or '')
  if not tokens or not at or at == 0 then tokens, at = burst, now end
  tokens = math.min(burst, tokens + math.max(now - at, 0) * nupm / 60000)
  if tokens < 1 then
    redis.call('HSET', meta, 'tb', tostring(tokens), 'tbAt', now)
    return false, now + math.ceil((1 - tokens) * 60000 / nupm)
  end
  redis.call('HSET', meta, 'tb', tostring(tokens - 1), 'tbAt', now)
  return true, 0
end

-- at_once is the memory store's atOnce: a join to a live event is
-- admitted at once when nobody waits ahead of it and the room is open or
-- has a free slot and a token of the admission rate, unpaused.
local function at_once()
  if redis.call('ZCARD', wait) > 0 or redis.call('ZCARD', pq) > 0 then return false end
  if method == 'passthrough' then return true end
  if queueAll or paused or redis.call('ZCARD', act) >= capacity then return false end
  if nupm > 0 then return (take_token()) end
  return true
end

expire_due()
close_line()
`

// join: ARGV 13 new session id, 14 user id, 15 key hash, 16 "1" if the
// caller is trusted, "2" if a user token proved the user (the session is
// marked verified, uv), 17 the session's audit reference, 18 a fresh draw
// seed and 19 its commitment, kept (pq_seed) and logged by the join that
// opens the pre-queue. Returns {created, view}; {-1} while the line is at
// maxWaiting; {-2} when the user holds a live session and the caller cannot
// prove it made that join. A retry of this very call (a lost reply) finds
// the session it created and answers it as created.
var joinScript = redis.NewScript(preamble + `
local sid, user, keyHash, trusted, verified = ARGV[13], ARGV[14], ARGV[15], ARGV[16] ~= '0', ARGV[16] == '2'
local existing = redis.call('HGET', users, user)
if existing and live(redis.call('HGET', skey(existing), 'st')) then
  publish()
  if existing == sid then return {1, view(existing)} end
  local kh = redis.call('HGET', skey(existing), 'k') or ''
  if trusted or (keyHash ~= '' and kh == keyHash) then
    if verified then redis.call('HSET', skey(existing), 'uv', 1) end
    return {0, view(existing)}
  end
  return {-2}
end
if opensAt > 0 and now < opensAt then publish(); return {-3, opensAt} end
if closing == 'event_ended' then publish(); return {-5, endsAt} end
if closing then publish(); return {-4, redis.call('HGET', meta, 's_msg') or ''} end
if maxWaiting > 0 and redis.call('ZCARD', wait) + redis.call('ZCARD', pq) >= maxWaiting then
  publish()
  return {-1}
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('HINCRBY', meta, 'joined', 1)
redis.call('HDEL', meta, 'idle')
local dl = now + waitTTL
redis.call('HSET', skey(sid), 'u', user, 'q', seq, 'st', 'WAITING', 'e', 0, 'c', now, 's', now, 'x', dl)
if keyHash ~= '' then redis.call('HSET', skey(sid), 'k', keyHash) end
if verified then redis.call('HSET', skey(sid), 'uv', 1) end
redis.call('ZADD', wdl, dl, sid)
redis.call('HSET', users, user, sid)
keep(sid, dl)
local pre = not started()
if pre and redis.call('HSETNX', meta, 'pq_seed', ARGV[18]) == 1 then
  audit(string.format('{"type":"commit","at":%.0f,"seedHash":"%s"}', now, ARGV[19]))
end
audit(string.format('j %.0f %.0f %s %d', now, seq, ARGV[17], pre and 1 or 0))
if pre then
  redis.call('ZADD', pq, seq, sid)
elseif at_once() then
  redis.call('HSET', skey(sid), 'e', 1) -- admitted at once: no message to wait for
  activate(sid, false)
else
  redis.call('ZADD', wait, seq, sid)
end
publish()
return {1, view(sid)}
`)

// enqueued: ARGV 13 session id. Returns 1, or 0 if unknown. When the
// session heads its line, granters blocked on its ticket are woken.
var enqueuedScript = redis.NewScript(preamble + `
local sid = ARGV[13]
if redis.call('EXISTS', skey(sid)) == 0 then publish(); return 0 end
redis.call('HSET', skey(sid), 'e', 1)
if method == 'random' or redis.call('ZRANGE', wait, 0, 0)[1] == sid then freed = true end
publish()
return 1
`)

// abort: ARGV 13 session id. Removes a WAITING session never enqueued.
var abortScript = redis.NewScript(preamble + `
publish()
local sid = ARGV[13]
local k = skey(sid)
if redis.call('HGET', k, 'st') ~= 'WAITING' or redis.call('HGET', k, 'e') ~= '0' then return 0 end
abort_session(sid)
return 1
`)

// get: ARGV 13 session id, 14 "1" to count it as a status poll. Returns the view or false.
var getScript = redis.NewScript(preamble + `
local sid = ARGV[13]
if ARGV[14] == '1' and redis.call('HGET', skey(sid), 'st') == 'WAITING' then
  local dl = now + waitTTL
  redis.call('HSET', skey(sid), 's', now, 'x', dl)
  redis.call('ZADD', wdl, dl, sid)
  keep(sid, dl)
end
publish()
return view(sid)
`)

// heartbeat: ARGV 13 session id. Returns {state, view}: state is ok, ended or missing.
var heartbeatScript = redis.NewScript(preamble + `
local sid = ARGV[13]
local k = skey(sid)
local st = redis.call('HGET', k, 'st')
publish()
if not st then return {'missing'} end
if not live(st) then return {'ended', view(sid)} end
local dl
if st == 'WAITING' then
  dl = now + waitTTL
  redis.call('ZADD', wdl, dl, sid)
else
  dl = math.min(now + hbTTL, tonumber(redis.call('HGET', k, 'a')) + maxActive)
  redis.call('ZADD', act, dl, sid)
end
redis.call('HSET', k, 's', now, 'x', dl)
keep(sid, dl)
return {'ok', view(sid)}
`)

// leave: ARGV 13 session id. Returns the view or false.
var leaveScript = redis.NewScript(preamble + `
local sid = ARGV[13]
if live(redis.call('HGET', skey(sid), 'st')) then
  finish(sid, 'LEFT', 'left', now)
end
publish()
return view(sid)
`)

// grant: ARGV 13 the session id the message names, 14 a uniform random
// number in [0, 1) for the random method's draw. Marks the session enqueued
// (its message is in the granter's hands), then admits the event's
// lowest-ticket WAITING session (random: one drawn uniformly). Returns
// {outcome, view, retryAt}.
var grantScript = redis.NewScript(grantSource)

var grantSource = preamble + `
local msg = ARGV[13]
if redis.call('HGET', skey(msg), 'st') == 'WAITING' then redis.call('HSET', skey(msg), 'e', 1) end
if not started() then
  -- No one is admitted before the event is open and started, and the
  -- pre-queue goes first then: the message waits for it.
  publish()
  return {'full', false, liveAt}
end
local sid
for _ = 1, 100 do
  local n = redis.call('ZCARD', wait)
  if n == 0 then publish(); return {'skipped', false, 0} end
  local first = redis.call('ZRANGE', wait, 0, 0)
  sid = first[1]
  if method == 'random' then
    -- The lottery: one drawn uniformly; one whose join is still sending
    -- is passed over for the next in line.
    local k = math.floor(tonumber(ARGV[14]) * n)
    for i = 0, math.min(n, 100) - 1 do
      local cand = redis.call('ZRANGE', wait, (k + i) % n, (k + i) % n)[1]
      if redis.call('HGET', skey(cand), 'e') == '1' or now >= tonumber(redis.call('HGET', skey(cand), 'c')) + grace then
        sid = cand
        break
      end
    end
  end
  if redis.call('HGET', skey(sid), 'e') == '1' then break end
  local until_ = tonumber(redis.call('HGET', skey(sid), 'c')) + grace
  if now < until_ then publish(); return {'blocked', view(sid), until_} end
  abort_session(sid) -- its join was never answered: it cannot hold the line
  sid = nil
end
if not sid then publish(); return {'blocked', false, now + 1000} end
if method == 'passthrough' then
  activate(sid, true) -- the room is open: no cap
  publish()
  return {'admitted', view(sid), 0}
end
local n = redis.call('ZCARD', act)
if paused or n >= capacity then
  local first = redis.call('ZRANGE', act, 0, 0, 'WITHSCORES')
  publish()
  return {'full', view(sid), first[2] or 0}
end
if nupm > 0 then
  local ok, retry = take_token()
  if not ok then
    publish()
    return {'full', view(sid), retry}
  end
end
activate(sid, true)
publish()
return {'admitted', view(sid), 0}
`

// sweep: no extra ARGV. Returns {ended, state, next}: state "live" with
// next the event's earliest deadline; "idle" with next the moment the idle
// event may be forgotten; "configured" for an idle event with runtime
// settings (kept); "gone" once an idle event has been forgotten.
var sweepScript = redis.NewScript(preamble + `
publish()
if redis.call('ZCARD', wait) > 0 or redis.call('ZCARD', act) > 0 or redis.call('ZCARD', pq) > 0 then
  redis.call('HDEL', meta, 'idle')
  local a = redis.call('ZRANGE', wdl, 0, 0, 'WITHSCORES')
  local b = redis.call('ZRANGE', act, 0, 0, 'WITHSCORES')
  local next = tonumber(a[2] or b[2])
  if b[2] and tonumber(b[2]) < next then next = tonumber(b[2]) end
  -- The start and the end are due moments too: the shuffle and the end of
  -- the waiting sessions happen then even without traffic.
  if liveAt > now and redis.call('ZCARD', pq) > 0 and liveAt < next then next = liveAt end
  if endsAt > now and a[2] and endsAt < next then next = endsAt end
  return {ended, 'live', next}
end
if redis.call('HGET', meta, 's_set') == '1' then return {ended, 'configured', 0} end
local idle = tonumber(redis.call('HGET', meta, 'idle') or '')
if not idle then
  if redis.call('EXISTS', meta) == 0 then return {ended, 'gone', 0} end
  redis.call('HSET', meta, 'idle', now)
  return {ended, 'idle', now + eventRetention}
end
if now < idle + eventRetention then return {ended, 'idle', idle + eventRetention} end
redis.call('DEL', meta, wait, act, wdl, pq, base .. ':shuf', auditLog, users)
return {ended, 'gone', 0}
`)

// dueSet: KEYS[1] the due set, ARGV 1 event id, 2 the score the sweep read,
// 3 new score or "gone". Changes the event's entry only if nobody changed
// it since the sweep read it (a join in between marks it due again).
var dueSetScript = redis.NewScript(`
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not cur or tonumber(cur) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == 'gone' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
`)

// stats: no extra ARGV. Returns {meta hash, active, waiting in line, rate,
// then the effective policy: capacity, paused, heartbeatTTL, waitingTTL,
// maxActive, maxWaiting, newUsersPerMinute, then the pre-queue's size, the
// schedule (opensAt, startsAt, endsAt), the method and the time}.
var statsScript = redis.NewScript(preamble + `
publish()
local p = 0
if paused then p = 1 end
return {redis.call('HGETALL', meta), redis.call('ZCARD', act), redis.call('ZCARD', wait), tostring(rate_now()), capacity, p,
  hbTTL, waitTTL, maxActive, maxWaiting, nupm, redis.call('ZCARD', pq), opensAt, startsAt, endsAt, method, now}
`)

// start: ARGV 13 the pre-queue's size the permutation is for, 14 the
// permutation (0-based indexes into the pre-queue sorted by ticket, comma
// separated: the one at place i goes i-th), 15 its seed. Past the start,
// moves the pre-queue into the line in that order, on the pre-queue's own
// tickets (all below every later join's), and records the shuffle. Returns
// 1 once done, 0 when there is nothing to shuffle (done already, or not
// due), {-1, size} when the pre-queue's size has changed.
var startScript = redis.NewScript(prelude(false) + `
publish()
if closing or not started() or redis.call('EXISTS', pq) == 0 then return 0 end
local members = redis.call('ZRANGE', pq, 0, -1, 'WITHSCORES')
local n = #members / 2
if n ~= tonumber(ARGV[13]) then return {-1, n} end
local order = {}
local i = 0
for j in string.gmatch(ARGV[14], '%d+') do
  i = i + 1
  local idx = tonumber(j) + 1
  local sid, seq = members[2 * idx - 1], members[2 * idx]
  redis.call('ZADD', wait, members[2 * i], sid)
  order[i] = seq
end
redis.call('DEL', pq)
local tickets = {}
for k = 1, n do tickets[k] = members[2 * k] end
audit(string.format('{"type":"draw","at":%.0f,"seed":"%s","tickets":[%s],"order":[%s]}', now, ARGV[15], table.concat(tickets, ','), table.concat(order, ',')))
redis.call('HDEL', meta, 'pq_seed')
redis.call('HSET', meta, 'shuf_at', now, 'shuf_starts', startsAt, 'shuf_seed', ARGV[15], 'shuf_n', n)
redis.call('SET', base .. ':shuf', table.concat(order, ','))
redis.call('PUBLISH', changes, event .. ' - START')
return 1
`)

// putSettings: ARGV 13 is the number of settings, then come pairs of a
// settings field of the meta hash and its value ("0" or "" clears it);
// see PutSettings. Wakes every
// granter. It runs without the start check: a new schedule may move the
// start.
var putSettingsScript = redis.NewScript(prelude(false) + `
for i = 0, tonumber(ARGV[13]) - 1 do
  local f, v = ARGV[14 + 2 * i], ARGV[15 + 2 * i]
  if v == '0' or v == '' then
    redis.call('HDEL', meta, f)
  else
    redis.call('HSET', meta, f, v)
  end
end
redis.call('HSET', meta, 's_set', 1)
redis.call('HDEL', meta, 'idle')
load_settings()
redis.call('RPUSH', auditLog, settings_json())
redis.call('PUBLISH', channel, event)
redis.call('PUBLISH', changes, event .. ' - SETTINGS')
return 1
`)
