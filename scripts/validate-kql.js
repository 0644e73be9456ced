// Validates every queries/*.kql with Microsoft's Kusto language service
// against the AzureDiagnostics and AZKVAuditLogs schemas: no syntax or
// unknown-column errors. Usage: node scripts/validate-kql.js (after
// `npm install --prefix .kql @kusto/language-service-next`).
const fs = require('fs');
const path = require('path');
const base = process.env.KUSTO_LS || path.join(__dirname, '..', '.kql', 'node_modules', '@kusto', 'language-service-next');
require(path.join(base, 'bridge.js'));
require(path.join(base, 'Kusto.Language.Bridge.js'));
const K = Kusto.Language, S = K.Symbols;
const claims = ['appid_g', 'oid_g', 'http_schemas_microsoft_com_identity_claims_objectidentifier_g', 'upn_s',
  'http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s', 'unique_name_s', 'idtyp_s', 'appidacr_s',
  'xms_mirid_s', 'scp_s'].map(c => `identity_claim_${c}:string`);
const azdiag = ['TenantId:string', 'TimeGenerated:datetime', 'ResourceId:string', '_ResourceId:string', 'SubscriptionId:string',
  'ResourceGroup:string', 'ResourceProvider:string', 'Resource:string', 'ResourceType:string', 'Category:string',
  'OperationName:string', 'OperationVersion:string', 'ResultType:string', 'ResultSignature:string', 'ResultDescription:string',
  'CorrelationId:string', 'DurationMs:long', 'CallerIPAddress:string', 'requestUri_s:string', 'id_s:string',
  'clientInfo_s:string', 'httpStatusCode_d:real', 'isRbacAuthorized_b:bool', 'isAccessPolicyMatch_b:bool',
  'tlsVersion_s:string', 'trustedService_s:string', 'appliedAssignmentId_g:string', 'Type:string'].concat(claims);
const azkv = ['TimeGenerated:datetime', 'OperationName:string', 'OperationVersion:string', 'ResultType:string',
  'ResultSignature:string', 'ResultDescription:string', 'DurationMs:int', 'CallerIpAddress:string', 'CorrelationId:string',
  'Identity:dynamic', 'HttpStatusCode:int', 'Id:string', 'RequestUri:string', 'ClientInfo:string', 'IsRbacAuthorized:bool',
  'IsAccessPolicyMatch:bool', 'IsAddressAuthorized:bool', 'AddressAuthorizationType:string', 'AppliedAssignmentId:string',
  'TrustedService:string', 'Tlsversion:string', 'SubnetId:string', 'NetworkAcls:string', 'SecretProperties:dynamic',
  'KeyProperties:dynamic', 'CertificateProperties:dynamic', '_ResourceId:string', '_SubscriptionId:string', 'TenantId:string',
  'SourceSystem:string', 'Type:string'];
const t1 = new S.TableSymbol.$ctor7('AzureDiagnostics', '(' + azdiag.join(', ') + ')', '');
const t2 = new S.TableSymbol.$ctor7('AZKVAuditLogs', '(' + azkv.join(', ') + ')', '');
const db = new S.DatabaseSymbol.$ctor3('db', null, [t1, t2], false);
const globals = K.GlobalState.Default.WithDatabase(db);
const dir = path.join(__dirname, '..', 'queries');
let bad = 0, n = 0;
for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.kql')).sort()) {
  n++;
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  const d = K.KustoCode.ParseAndAnalyze(text, globals).GetDiagnostics();
  const errors = [];
  for (let i = 0; i < d.Count; i++) {
    const x = d.getItem(i);
    if (String(x.Severity) === 'Error') errors.push(x.Message);
  }
  if (errors.length) { bad++; console.log(`FAIL ${f}:\n  ` + errors.join('\n  ')); } else console.log(`ok   ${f}`);
}
if (n === 0) { console.log('no queries found'); process.exit(1); }
process.exit(bad ? 1 : 0);
