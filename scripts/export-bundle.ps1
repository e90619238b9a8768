<#
.SYNOPSIS
  Export the bundle `mailgate audit` reads, from a Dynamics 365 / Dataverse org and its
  Microsoft Entra tenant, with Invoke-RestMethod.

.EXAMPLE
  $dv = az account get-access-token --resource https://contoso.crm.dynamics.com --query accessToken -o tsv
  $gr = az account get-access-token --resource-type ms-graph --query accessToken -o tsv
  ./scripts/export-bundle.ps1 -OrgUrl https://contoso.crm.dynamics.com -OutDir contoso -DataverseToken $dv -GraphToken $gr

.NOTES
  Each file is one Web API response, or a JSON array of responses when the result came in
  pages (`@odata.nextLink` is followed unchanged). Columns that newer versions added (and
  older ones lack) are selected only when the org's metadata has them, because `$select`
  of an unknown column fails the whole request.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $OrgUrl,
    [Parameter(Mandatory)] [string] $OutDir,
    [Parameter(Mandatory)] [string] $DataverseToken,
    [Parameter(Mandatory)] [string] $GraphToken,
    [string] $GraphUrl = 'https://graph.microsoft.com/v1.0'
)
$ErrorActionPreference = 'Stop'
$Api = $OrgUrl.TrimEnd('/') + '/api/data/v9.2'
New-Item -ItemType Directory -Force -Path (Join-Path $OutDir 'privileges') | Out-Null

function Get-Json([string] $Token, [string] $Url) {
    $headers = @{
        Authorization      = "Bearer $Token"
        Accept             = 'application/json'
        'OData-MaxVersion' = '4.0'
        'OData-Version'    = '4.0'
        # Integers and booleans come as they are; the annotations (labels, lookup types)
        # come too, and mailgate reads only the lookup types.
        Prefer             = 'odata.include-annotations="*",odata.maxpagesize=5000'
    }
    Invoke-RestMethod -Method Get -Uri $Url -Headers $headers
}

function Save-Json($Object, [string] $Path) {
    # UTF-8 without a byte order mark on every PowerShell version.
    $json = ConvertTo-Json -InputObject $Object -Depth 32 -Compress
    [System.IO.File]::WriteAllText($Path, $json, (New-Object System.Text.UTF8Encoding $false))
}

# Every page of a collection: one response, or an array of responses.
function Get-AllPages([string] $Token, [string] $Url) {
    $pages = New-Object System.Collections.ArrayList
    while ($Url) {
        $page = Get-Json $Token $Url
        [void] $pages.Add($page)
        $Url = $page.'@odata.nextLink'
    }
    if ($pages.Count -eq 1) { return $pages[0] }
    return , $pages.ToArray()
}

function Save-AllPages([string] $Token, [string] $Url, [string] $Name) {
    Save-Json (Get-AllPages $Token $Url) (Join-Path $OutDir $Name)
}

# The columns of a table among the candidates (for optional, newer columns). A lookup is
# selected as _NAME_value; its logical name is NAME.
function Get-PresentColumns([string] $Table, [string[]] $Candidates) {
    $names = (Get-Json $DataverseToken "$Api/EntityDefinitions(LogicalName='$Table')/Attributes?`$select=LogicalName").value.LogicalName
    $Candidates | Where-Object { $names -contains ($_ -replace '^_(.*)_value$', '$1') }
}

function Join-Columns([string] $Required, [string[]] $Optional) {
    (@($Required) + @($Optional | Where-Object { $_ })) -join ','
}

Write-Host 'organization, version'
Save-AllPages $DataverseToken "$Api/organizations?`$select=name,requireapprovalforuseremail,requireapprovalforqueueemail,orgdborgsettings" 'organizations.json'
Save-Json (Get-Json $DataverseToken "$Api/RetrieveVersion()") (Join-Path $OutDir 'version.json')

Write-Host 'email server profiles'
$profileCols = 'name,servertype,incomingcredentialretrieval,outgoingcredentialretrieval,statecode'
Save-AllPages $DataverseToken "$Api/emailserverprofiles?`$select=$profileCols" 'emailserverprofiles.json'

Write-Host 'mailboxes'
$mailboxCols = 'name,emailaddress,emailrouteraccessapproval,isforwardmailbox,incomingemaildeliverymethod,outgoingemaildeliverymethod,actdeliverymethod,incomingemailstatus,outgoingemailstatus,actstatus,enabledforincomingemail,enabledforoutgoingemail,enabledforact,statecode,_emailserverprofile_value,_regardingobjectid_value,_ownerid_value'
$mailboxOptional = Get-PresentColumns 'mailbox' @('isemailaddressapprovedbyo365admin', 'orgmarkedasprimaryforexchangesync', '_emailaddressapprovedby_value')
Save-AllPages $DataverseToken "$Api/mailboxes?`$select=$(Join-Columns $mailboxCols $mailboxOptional)&`$expand=emailserverprofile(`$select=$profileCols)" 'mailboxes.json'

Write-Host 'queues'
$queueOptional = Get-PresentColumns 'queue' @('isemailaddressapprovedbyo365admin')
Save-AllPages $DataverseToken "$Api/queues?`$select=$(Join-Columns 'name,emailaddress,emailrouteraccessapproval,_ownerid_value' $queueOptional)" 'queues.json'

Write-Host 'users'
$userOptional = Get-PresentColumns 'systemuser' @('isemailaddressapprovedbyo365admin')
$userCols = Join-Columns 'fullname,domainname,internalemailaddress,azureactivedirectoryobjectid,isdisabled,accessmode,emailrouteraccessapproval' $userOptional
$users = Get-AllPages $DataverseToken "$Api/systemusers?`$select=$userCols&`$expand=systemuserroles_association(`$select=name,_roletemplateid_value),teammembership_association(`$select=teamid)"
Save-Json $users (Join-Path $OutDir 'systemusers.json')

Write-Host 'teams'
Save-AllPages $DataverseToken "$Api/teams?`$select=name,teamtype,azureactivedirectoryobjectid&`$expand=teamroles_association(`$select=name,_roletemplateid_value),teammembership_association(`$select=systemuserid)" 'teams.json'

Write-Host 'privileges per user'
$privs = [uri]::EscapeDataString('["prvApproveRejectEmailAddress","prvWriteMailbox"]')
foreach ($page in @($users)) {
    foreach ($u in $page.value) {
        $id = $u.systemuserid
        $p = Get-Json $DataverseToken "$Api/systemusers($id)/Microsoft.Dynamics.CRM.RetrieveUserSetOfPrivilegesByNames(PrivilegeNames=@p)?@p=$privs"
        Save-Json $p (Join-Path $OutDir "privileges/$id.json")
    }
}

Write-Host 'directory roles (Microsoft Graph)'
# Global Administrator, Exchange Administrator, Power Platform Administrator, by template id.
$roles = @('62e90394-69f5-4237-9190-012177145e10', '29232cdf-9323-42fd-ade2-1d097af3e4de', '11648597-926c-4cf3-9c36-bcebb0ba8dcc')
$responses = New-Object System.Collections.ArrayList
foreach ($role in $roles) {
    $Url = "$GraphUrl/roleManagement/directory/roleAssignments?`$filter=roleDefinitionId eq '$role'"
    while ($Url) {
        $page = Get-Json $GraphToken $Url
        [void] $responses.Add($page)
        $Url = $page.'@odata.nextLink'
    }
}
Save-Json (, $responses.ToArray()) (Join-Path $OutDir 'directory-roles.json')
Write-Host "done: mailgate audit $OutDir"
