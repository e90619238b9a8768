#!/usr/bin/env bash
# Export the bundle `mailgate audit` reads, from a Dynamics 365 / Dataverse org and its
# Microsoft Entra tenant, with curl and jq.
#
#   DATAVERSE_TOKEN=... GRAPH_TOKEN=... scripts/export-bundle.sh https://contoso.crm.dynamics.com OUTDIR
#
# Tokens, for example with the Azure CLI:
#   DATAVERSE_TOKEN=$(az account get-access-token --resource https://contoso.crm.dynamics.com --query accessToken -o tsv)
#   GRAPH_TOKEN=$(az account get-access-token --resource-type ms-graph --query accessToken -o tsv)
#
# Each file is one Web API response, or a JSON array of responses when the result came
# in pages (`@odata.nextLink` is followed unchanged). Columns that newer versions added
# (and older ones lack) are selected only when the org's metadata has them, because
# `$select` of an unknown column fails the whole request.
set -euo pipefail

ORG="${1:?usage: export-bundle.sh ORG_URL OUTDIR}"
OUT="${2:?usage: export-bundle.sh ORG_URL OUTDIR}"
ORG="${ORG%/}"
API="$ORG/api/data/v9.2"
GRAPH="${GRAPH_URL:-https://graph.microsoft.com/v1.0}"
: "${DATAVERSE_TOKEN:?set DATAVERSE_TOKEN to a Dataverse access token}"
: "${GRAPH_TOKEN:?set GRAPH_TOKEN to a Microsoft Graph access token}"
command -v jq >/dev/null || { echo "export-bundle.sh needs jq" >&2; exit 1; }
mkdir -p "$OUT/privileges"

# GET a URL; prints the body. Integers and booleans come as they are; the annotations
# (labels, lookup types) come too, and mailgate reads only the lookup types.
get() { # TOKEN URL
  curl --fail-with-body --silent --show-error --globoff \
    -H "Authorization: Bearer $1" \
    -H "Accept: application/json" \
    -H "OData-MaxVersion: 4.0" -H "OData-Version: 4.0" \
    -H 'Prefer: odata.include-annotations="*",odata.maxpagesize=5000' \
    "$2"
}

# GET every page of a collection into FILE: one response, or a JSON array of responses.
get_all() { # TOKEN URL FILE
  local token="$1" url="$2" file="$3" n=0 tmp
  tmp="$(mktemp -d)"
  while [ -n "$url" ]; do
    n=$((n + 1))
    get "$token" "$url" > "$tmp/$n.json"
    url="$(jq -r '."@odata.nextLink" // empty' "$tmp/$n.json")"
  done
  if [ "$n" -eq 1 ]; then
    mv "$tmp/1.json" "$file"
  else
    jq -s '.' $(for i in $(seq 1 "$n"); do echo "$tmp/$i.json"; done) > "$file"
  fi
  rm -rf "$tmp"
}

# The columns of TABLE among the candidates, comma-separated (for optional columns).
present() { # TABLE COLUMN...
  local table="$1"; shift
  local names
  names="$(get "$DATAVERSE_TOKEN" "$API/EntityDefinitions(LogicalName='$table')/Attributes?\$select=LogicalName" | jq -r '.value[].LogicalName')"
  local out=() c
  for c in "$@"; do
    # A lookup is selected as _NAME_value; its logical name is NAME.
    if grep -qx "$(sed 's/^_\(.*\)_value$/\1/' <<<"$c")" <<<"$names"; then
      out+=("$c")
    fi
  done
  (IFS=,; echo "${out[*]}")
}

sel() { # REQUIRED OPTIONAL: joins two column lists
  if [ -n "$2" ]; then echo "$1,$2"; else echo "$1"; fi
}

echo "organization, version" >&2
get_all "$DATAVERSE_TOKEN" "$API/organizations?\$select=name,requireapprovalforuseremail,requireapprovalforqueueemail,orgdborgsettings" "$OUT/organizations.json"
get "$DATAVERSE_TOKEN" "$API/RetrieveVersion()" > "$OUT/version.json"

echo "email server profiles" >&2
PROFILE_COLS="name,servertype,incomingcredentialretrieval,outgoingcredentialretrieval,statecode"
get_all "$DATAVERSE_TOKEN" "$API/emailserverprofiles?\$select=$PROFILE_COLS" "$OUT/emailserverprofiles.json"

echo "mailboxes" >&2
MAILBOX_COLS="name,emailaddress,emailrouteraccessapproval,isforwardmailbox,incomingemaildeliverymethod,outgoingemaildeliverymethod,actdeliverymethod,incomingemailstatus,outgoingemailstatus,actstatus,enabledforincomingemail,enabledforoutgoingemail,enabledforact,statecode,_emailserverprofile_value,_regardingobjectid_value,_ownerid_value"
MAILBOX_OPTIONAL="$(present mailbox isemailaddressapprovedbyo365admin orgmarkedasprimaryforexchangesync _emailaddressapprovedby_value)"
get_all "$DATAVERSE_TOKEN" "$API/mailboxes?\$select=$(sel "$MAILBOX_COLS" "$MAILBOX_OPTIONAL")&\$expand=emailserverprofile(\$select=$PROFILE_COLS)" "$OUT/mailboxes.json"

echo "queues" >&2
QUEUE_OPTIONAL="$(present queue isemailaddressapprovedbyo365admin)"
get_all "$DATAVERSE_TOKEN" "$API/queues?\$select=$(sel "name,emailaddress,emailrouteraccessapproval,_ownerid_value" "$QUEUE_OPTIONAL")" "$OUT/queues.json"

echo "users" >&2
USER_OPTIONAL="$(present systemuser isemailaddressapprovedbyo365admin)"
get_all "$DATAVERSE_TOKEN" "$API/systemusers?\$select=$(sel "fullname,domainname,internalemailaddress,azureactivedirectoryobjectid,isdisabled,accessmode,emailrouteraccessapproval" "$USER_OPTIONAL")&\$expand=systemuserroles_association(\$select=name,_roletemplateid_value),teammembership_association(\$select=teamid)" "$OUT/systemusers.json"

echo "teams" >&2
get_all "$DATAVERSE_TOKEN" "$API/teams?\$select=name,teamtype,azureactivedirectoryobjectid&\$expand=teamroles_association(\$select=name,_roletemplateid_value),teammembership_association(\$select=systemuserid)" "$OUT/teams.json"

echo "privileges per user" >&2
PRIVS='%5B%22prvApproveRejectEmailAddress%22,%22prvWriteMailbox%22%5D'
jq -r 'if type == "array" then .[] else . end | .value[].systemuserid' "$OUT/systemusers.json" |
while read -r id; do
  get "$DATAVERSE_TOKEN" "$API/systemusers($id)/Microsoft.Dynamics.CRM.RetrieveUserSetOfPrivilegesByNames(PrivilegeNames=@p)?@p=$PRIVS" > "$OUT/privileges/$id.json"
done

echo "directory roles (Microsoft Graph)" >&2
# Global Administrator, Exchange Administrator, Power Platform Administrator, by template id.
tmp="$(mktemp -d)"
n=0
for role in 62e90394-69f5-4237-9190-012177145e10 29232cdf-9323-42fd-ade2-1d097af3e4de 11648597-926c-4cf3-9c36-bcebb0ba8dcc; do
  n=$((n + 1))
  get_all "$GRAPH_TOKEN" "$GRAPH/roleManagement/directory/roleAssignments?\$filter=roleDefinitionId%20eq%20'$role'" "$tmp/$n.json"
done
jq -s '[.[] | if type == "array" then .[] else . end]' "$tmp"/*.json > "$OUT/directory-roles.json"
rm -rf "$tmp"
echo "done: mailgate audit $OUT" >&2
