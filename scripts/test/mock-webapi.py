#!/usr/bin/env python3
"""A mock of the Dataverse Web API and Microsoft Graph serving an audit fixture (see run-mock-export.sh)."""
import json, sys, os, re
from http.server import HTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs, unquote
FIX = sys.argv[1]; PORT = int(sys.argv[2])
def load(n): return json.load(open(os.path.join(FIX, n)))
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): sys.stderr.write(self.path + "\n")
    def send(self, obj, code=200):
        b = json.dumps(obj).encode(); self.send_response(code)
        self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        u = urlparse(self.path); q = parse_qs(u.query); path = unquote(u.path)
        base = "http://127.0.0.1:%d" % PORT
        if path.startswith("/graph/"):
            if auth != "Bearer graph-token": return self.send({"error": "token"}, 401)
            role = re.search(r"roleDefinitionId eq '([^']+)'", unquote(u.query)).group(1)
            rows = [r for r in load("directory-roles.json")["value"] if r["roleDefinitionId"] == role]
            return self.send({"@odata.context": "graph", "value": rows})
        if auth != "Bearer dv-token": return self.send({"error": "token"}, 401)
        if "include-annotations" not in self.headers.get("Prefer", ""): return self.send({"error": "prefer"}, 400)
        sel = q.get("$select", [""])[0]
        if "_emailaddressapprovedby_value" in sel.split(","): return self.send({"error": {"message": "Could not find a property named 'emailaddressapprovedby'"}}, 400)
        m = re.match(r"/api/data/v9\.2/EntityDefinitions\(LogicalName='(\w+)'\)/Attributes", path)
        if m:
            names = ["isemailaddressapprovedbyo365admin", "orgmarkedasprimaryforexchangesync", "name"]
            return self.send({"value": [{"LogicalName": n} for n in names]})
        if path == "/api/data/v9.2/RetrieveVersion()": return self.send(load("version.json"))
        m = re.match(r"/api/data/v9\.2/systemusers\(([^)]+)\)/Microsoft\.Dynamics\.CRM\.RetrieveUserSetOfPrivilegesByNames", path)
        if m: return self.send(load("privileges/%s.json" % m.group(1)))
        m = re.match(r"/api/data/v9\.2/(\w+)$", path)
        if m:
            data = load(m.group(1) + ".json")
            if isinstance(data, list):
                k = int(q.get("$skiptoken", ["1"])[0])
                page = dict(data[k - 1]); page.pop("@odata.nextLink", None)
                if k < len(data): page["@odata.nextLink"] = base + path + "?" + u.query.split("&$skiptoken")[0] + "&$skiptoken=%d" % (k + 1)
                return self.send(page)
            return self.send(data)
        self.send({"error": "no route " + path}, 404)
HTTPServer(("127.0.0.1", PORT), H).serve_forever()
