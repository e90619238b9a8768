-- Driven by tests/nvim.rs: `nvim --headless -u DOCS_CONFIG FILE -c 'luafile e2e.lua'`.
-- It uses only what a user has: the configuration from docs/editors.md, the diagnostics
-- Neovim shows, and `vim.lsp.buf.code_action`. Results go to $MAILGATE_NVIM_OUT as JSON;
-- every wait is bounded, so a server that hangs ends the run with a failure, not a hang.
local out = assert(os.getenv("MAILGATE_NVIM_OUT"), "MAILGATE_NVIM_OUT is not set")
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

local function simple(diags)
  local list = {}
  for _, d in ipairs(diags) do
    table.insert(list, {
      code = d.code,
      severity = d.severity,
      lnum = d.lnum,
      col = d.col,
      message = d.message,
      source = d.source,
    })
  end
  return list
end

local ok, err = pcall(function()
  result.filetype = vim.bo.filetype
  local buf = vim.api.nvim_get_current_buf()

  -- 1. The lint is shown as a warning.
  if not vim.wait(wait_ms, function()
    return #vim.diagnostic.get(buf) > 0
  end, 50) then
    local clients = vim.lsp.get_clients({ bufnr = buf })
    return fail(("no diagnostics within %d ms (filetype %q, %d LSP clients attached)"):format(
      wait_ms, vim.bo.filetype, #clients))
  end
  result.clients = vim.tbl_map(function(c) return c.name end, vim.lsp.get_clients({ bufnr = buf }))
  result.before = simple(vim.diagnostic.get(buf))

  -- 2. The quick fix, as a user applies it: cursor on the warning, code action, apply.
  local d = vim.diagnostic.get(buf)[1]
  vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
  local titles = {}
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      table.insert(titles, action.title)
      return action.kind == "quickfix"
    end,
  })
  local original = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
  if not vim.wait(wait_ms, function()
    return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") ~= original
  end, 50) then
    result.titles = titles
    return fail(("the quick fix did not change the buffer within %d ms"):format(wait_ms))
  end
  result.titles = titles
  result.fixed = vim.api.nvim_buf_get_lines(buf, 0, -1, false)

  -- 3. The server sees the edit and the warning clears.
  if not vim.wait(wait_ms, function()
    return #vim.diagnostic.get(buf) == 0
  end, 50) then
    result.after = simple(vim.diagnostic.get(buf))
    return fail(("the warning did not clear within %d ms"):format(wait_ms))
  end
  result.after = {}
  finish()
end)
if not ok then
  fail("lua error: " .. tostring(err))
end
