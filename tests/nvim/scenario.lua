-- Driven by tests/nvim.rs: `nvim --headless -u DOCS_CONFIG SCENARIO -c 'luafile scenario.lua'`.
-- A scenario file in a real editor, with only what a user has: the configuration from
-- docs/editors.md, the inlay hints and diagnostics Neovim shows, `vim.lsp.buf.code_action`,
-- and editing a policy in a split. Results go to $MAILGATE_NVIM_OUT as JSON; every wait is
-- bounded.
local out = assert(os.getenv("MAILGATE_NVIM_OUT"), "MAILGATE_NVIM_OUT is not set")
local policy = assert(os.getenv("MAILGATE_NVIM_POLICY"), "MAILGATE_NVIM_POLICY is not set")
local wait_ms = 20000
local result = {}

local function finish()
  local f = assert(io.open(out, "w"))
  f:write(vim.json.encode(result))
  f:close()
  vim.cmd("qall!")
end

local function fail(msg)
  result.error = msg
  finish()
end

local function diagnostics(buf)
  local list = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(list, { severity = d.severity, lnum = d.lnum, message = d.message })
  end
  table.sort(list, function(a, b) return a.lnum < b.lnum end)
  return list
end

-- The hints Neovim shows, as `line: label` (lines from 1), in order.
local function hints(buf)
  local list = {}
  for _, h in ipairs(vim.lsp.inlay_hint.get({ bufnr = buf })) do
    local label = h.inlay_hint.label
    if type(label) == "table" then
      label = table.concat(vim.tbl_map(function(p) return p.value end, label))
    end
    table.insert(list, ("%d: %s"):format(h.inlay_hint.position.line + 1, label))
  end
  table.sort(list, function(a, b)
    return tonumber(a:match("^%d+")) < tonumber(b:match("^%d+"))
  end)
  return list
end

local function text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

local ok, err = pcall(function()
  result.filetype = vim.bo.filetype
  local buf = vim.api.nvim_get_current_buf()

  -- 1. The decisions, as inlay hints, and the request whose `expect` disagrees.
  if not vim.wait(wait_ms, function()
    return #hints(buf) > 0 and #vim.diagnostic.get(buf) > 0
  end, 50) then
    local clients = vim.lsp.get_clients({ bufnr = buf })
    return fail(("no hints and diagnostics within %d ms (filetype %q, %d LSP clients attached)"):format(
      wait_ms, vim.bo.filetype, #clients))
  end
  result.clients = vim.tbl_map(function(c) return c.name end, vim.lsp.get_clients({ bufnr = buf }))
  result.hints = hints(buf)
  result.diagnostics = diagnostics(buf)

  -- 2. The why-not comment, as a user adds it: cursor on the error, code action, apply.
  local d = vim.diagnostic.get(buf)[1]
  vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
  local titles = {}
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      table.insert(titles, action.title)
      return action.title == "Add the first why-not option as a comment"
    end,
  })
  local original = text(buf)
  if not vim.wait(wait_ms, function() return text(buf) ~= original end, 50) then
    result.titles = titles
    return fail(("the code action did not change the buffer within %d ms"):format(wait_ms))
  end
  result.titles = titles
  result.commented = vim.api.nvim_buf_get_lines(buf, 0, -1, false)

  -- 3. Editing a policy (in a split, unsaved) decides the scenario again.
  vim.cmd("split " .. vim.fn.fnameescape(policy))
  local pbuf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(pbuf, 0, -1, false, {
    "rule e2e-leave {",
    "  deny approve_mailbox",
    '  when user.upn == "alice@contoso.com"',
    '  reason "alice is on leave"',
    "}",
  })
  if not vim.wait(wait_ms, function()
    local denied = vim.tbl_filter(function(h) return h:find("deny: alice is on leave", 1, true) end, hints(buf))
    return #denied > 0 and #vim.diagnostic.get(buf) > 1
  end, 50) then
    result.after = { hints = hints(buf), diagnostics = diagnostics(buf) }
    return fail(("editing the policy did not change the scenario's hints within %d ms"):format(wait_ms))
  end
  result.after = { hints = hints(buf), diagnostics = diagnostics(buf) }
  finish()
end)
if not ok then
  fail("lua error: " .. tostring(err))
end
