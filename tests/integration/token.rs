//! `kvaudit token`: decoding, bad input that never echoes the token, and
//! `--verify` against a JWKS served by a real HTTP server on 127.0.0.1
//! for a key this test generates.

use crate::harness::*;
use base64::Engine;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

const TID: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

struct Key {
    pem: Vec<u8>,
    jwks: Value,
}

fn keypair(dir: &std::path::Path) -> Key {
    let path = dir.join("key.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&path)
        .arg("2048")
        .output()
        .unwrap();
    assert!(ok.status.success());
    let m = Command::new("openssl")
        .args(["rsa", "-noout", "-modulus", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    let hex = String::from_utf8(m.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("Modulus=")
        .to_string();
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Key {
        pem: std::fs::read(&path).unwrap(),
        jwks: json!({"keys": [{"kty": "RSA", "use": "sig", "kid": "test-kid", "alg": "RS256", "n": b64(&n), "e": "AQAB"}]}),
    }
}

fn claims(exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "aud": "https://vault.azure.net", "iss": format!("https://sts.windows.net/{TID}/"), "tid": TID,
        "iat": now - 60, "nbf": now - 60, "exp": now + exp_offset,
        "appid": "3a9c5e7f-1b2d-4e6f-8a0c-7d9e1f3a5b55", "appidacr": "1", "idtyp": "app",
        "oid": "8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44", "roles": [], "ver": "1.0"
    })
}

fn sign(key: &Key, claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some("test-kid".into());
    jsonwebtoken::encode(
        &h,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&key.pem).unwrap(),
    )
    .unwrap()
}

/// Serves the discovery document and the JWKS; returns the base URL.
fn serve(jwks: Value) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let b = base.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = if path == format!("/{TID}/v2.0/.well-known/openid-configuration")
            {
                ("200 OK", json!({"issuer": format!("https://login.microsoftonline.com/{TID}/v2.0"), "jwks_uri": format!("{b}/{TID}/discovery/v2.0/keys")}).to_string())
            } else if path == format!("/{TID}/discovery/v2.0/keys") {
                ("200 OK", jwks.to_string())
            } else {
                ("404 Not Found", "{}".to_string())
            };
            let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    base
}

fn token_cmd(args: &[&str], stdin: &str) -> Out {
    let mut a = vec!["token"];
    a.extend_from_slice(args);
    kvaudit_stdin(&a, Some(stdin.as_bytes()))
}

fn assert_no_token(out: &Out, token: &str) {
    let sig = token.rsplit('.').next().unwrap();
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(token), "whole token printed");
        assert!(sig.len() < 8 || !text.contains(sig), "signature printed");
    }
}

#[test]
fn decodes_without_verification_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let key = keypair(d.path());
    let t = sign(&key, &claims(3600));
    let out = token_cmd(&["--format", "json"], &t);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_token(&out, &t);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["kind"], "service_principal");
    assert_eq!(v["tenant"], TID);
    assert_eq!(v["version"], "v1");
    assert_eq!(v["audience_is_key_vault"], true);
    assert_eq!(v["client_auth"], "client secret");
    assert_eq!(v["expired"], false);
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .contains("without verifying"));
    let table = token_cmd(&[], &t);
    assert!(
        table.stdout.contains("service_principal")
            && table
                .stdout
                .contains("8e4f1a5d-2c6b-4f9e-a3d1-5b7c9e1f3d44")
    );
    assert_no_token(&table, &t);
}

#[test]
fn wrong_audience_and_expiry_warn() {
    let d = tempfile::tempdir().unwrap();
    let key = keypair(d.path());
    let mut c = claims(-10);
    c["aud"] = json!("https://management.azure.com/");
    c["upn"] = json!("alice@contoso.com");
    c["scp"] = json!("user_impersonation");
    c["appid"] = json!("04b07795-8ddb-461a-bbee-02f9e1bf7b46");
    let t = sign(&key, &c);
    let p = write(d.path(), "tok", t.as_bytes());
    let out = kvaudit(&["token", "--file", &p, "--format", "json"]);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["app_name"].as_str()),
        (Some("user"), Some("Microsoft Azure CLI"))
    );
    assert_eq!(v["expired"], true);
    let w = v["warnings"].to_string();
    assert!(
        w.contains("not https://vault.azure.net") && w.contains("expired"),
        "{w}"
    );
}

#[test]
fn verifies_against_a_local_jwks_and_rejects_tampering() {
    let d = tempfile::tempdir().unwrap();
    let key = keypair(d.path());
    let base = serve(key.jwks.clone());
    let t = sign(&key, &claims(3600));
    let out = token_cmd(
        &[
            "--verify",
            "--tenant",
            TID,
            "--authority",
            &base,
            "--format",
            "json",
        ],
        &t,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verified"], true);
    // Tampered claims: same signature, different payload.
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = claims(3600);
    c["oid"] = json!("00000000-0000-0000-0000-000000000000");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    let out = token_cmd(
        &["--verify", "--tenant", TID, "--authority", &base],
        &forged,
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("verification failed"), "{}", out.stderr);
    assert_no_token(&out, &forged);
    // JWKS from a file; a key that does not match fails.
    let jwks = write(d.path(), "jwks.json", key.jwks.to_string().as_bytes());
    assert_eq!(
        token_cmd(&["--verify", "--tenant", TID, "--jwks", &jwks], &t).code,
        0
    );
    let other = keypair(&tempfile::tempdir().unwrap().keep());
    let other_jwks = write(d.path(), "other.json", other.jwks.to_string().as_bytes());
    assert_eq!(
        token_cmd(&["--verify", "--tenant", TID, "--jwks", &other_jwks], &t).code,
        1
    );
    // Expired tokens fail verification.
    let old = sign(&key, &claims(-3600));
    assert_eq!(
        token_cmd(&["--verify", "--tenant", TID, "--jwks", &jwks], &old).code,
        1
    );
}

#[test]
fn bad_tokens_get_clear_errors_without_echo() {
    let secretish = "eyJhbGciOiJSUzI1NiJ9SECRETPAYLOAD";
    let cases: [(String, &str); 5] = [
        (format!("{secretish}.onlytwo"), "three base64url parts"),
        (format!("{secretish}!!.e30.sig"), "not valid base64url"),
        (
            format!("e30.{}.sig", b64(b"not json at all")),
            "claims (part 2) are not JSON",
        ),
        ("a.b.c.d.e".to_string(), "encrypted token (JWE"),
        ("".to_string(), "three base64url parts"),
    ];
    for (t, expect) in cases {
        let out = token_cmd(&[], &t);
        assert_eq!(out.code, 1, "{t}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{t}: {}", out.stderr);
        assert!(!out.stderr.contains("SECRETPAYLOAD"));
    }
}

#[test]
fn environment_variable_and_logs() {
    let d = tempfile::tempdir().unwrap();
    let key = keypair(d.path());
    let t = sign(&key, &claims(3600));
    let child = Command::new(env!("CARGO_BIN_EXE_kvaudit"))
        .args([
            "token",
            "--format",
            "json",
            "--logs",
            &fixture("scenarios/s2-airflow-spn-forbidden.jsonl"),
        ])
        .env("KVAUDIT_TOKEN", &t)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&child.stdout).expect("json");
    assert_eq!(v["events"], 4);
    assert_eq!(v["denials"][0]["role"], "Key Vault Secrets User");
    assert_eq!(
        v["denials"][0]["resolved_at"],
        "2025-03-14T02:00:00.000000Z"
    );
    // As an argument it works but warns.
    let out = kvaudit(&["token", &t]);
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("visible to other users"));
}

/// Issue 16.2: the token cannot choose its own keys or issuer. A forged
/// token whose `tid` points discovery elsewhere, an `alg` of none or HS256
/// (signed with the public key's bytes), a tenant other than --tenant and a
/// discovery document sending keys to another host all fail.
#[test]
fn a_forged_token_cannot_choose_its_keys_issuer_or_algorithm() {
    let d = tempfile::tempdir().unwrap();
    let key = keypair(d.path());
    let attacker = keypair(&tempfile::tempdir().unwrap().keep());
    let base = serve(key.jwks.clone());
    // The attacker serves their own keys under a path the tid injects.
    let evil_base = serve(attacker.jwks.clone());
    let mut c = claims(3600);
    c["tid"] = json!(format!("{TID}/v2.0/.well-known/openid-configuration?x=/"));
    c["iss"] = json!(format!(
        "https://sts.windows.net/{}/",
        c["tid"].as_str().unwrap()
    ));
    let forged = sign(&attacker, &c);
    let out = token_cmd(
        &["--verify", "--tenant", TID, "--authority", &evil_base],
        &forged,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("tid claim") && out.stderr.contains("not a tenant id"),
        "{}",
        out.stderr
    );
    // A well-formed tid of another tenant.
    let mut c = claims(3600);
    c["tid"] = json!("11111111-2222-4333-8444-555555555555");
    let other_tenant = sign(&key, &c);
    let out = token_cmd(
        &["--verify", "--tenant", TID, "--authority", &base],
        &other_tenant,
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not 9f8e7d6c"), "{}", out.stderr);
    // The issuer is compared exactly, not derived from the token.
    let mut c = claims(3600);
    c["iss"] = json!(format!("https://sts.windows.net/{TID}/extra"));
    let out = token_cmd(
        &["--verify", "--tenant", TID, "--authority", &base],
        &sign(&key, &c),
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("verification failed"), "{}", out.stderr);
    // alg none and HS256 are refused before any key is fetched.
    let payload = b64(claims(3600).to_string().as_bytes());
    let none = format!(
        "{}.{payload}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"test-kid"}"#)
    );
    let out = token_cmd(&["--verify", "--tenant", TID, "--authority", &base], &none);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("only RS256"), "{}", out.stderr);
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some("test-kid".into());
    let hs = jsonwebtoken::encode(
        &h,
        &claims(3600),
        &jsonwebtoken::EncodingKey::from_secret(
            key.jwks["keys"][0]["n"].as_str().unwrap().as_bytes(),
        ),
    )
    .unwrap();
    let out = token_cmd(&["--verify", "--tenant", TID, "--authority", &base], &hs);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("only RS256"), "{}", out.stderr);
    assert_no_token(&out, &hs);
    // --verify without --tenant is a usage error; a tenant that is no GUID too.
    let t = sign(&key, &claims(3600));
    assert_eq!(token_cmd(&["--verify", "--authority", &base], &t).code, 2);
    let out = token_cmd(
        &["--verify", "--tenant", "x/../y", "--authority", &base],
        &t,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// Issue 16.2: keys are taken only from the configured authority's host.
#[test]
fn discovery_keys_from_another_host_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let key = keypair(d.path());
    let keys_elsewhere = serve(key.jwks.clone());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let body = json!({"jwks_uri": format!("{keys_elsewhere}/{TID}/discovery/v2.0/keys")})
                .to_string();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let t = sign(&key, &claims(3600));
    let out = token_cmd(&["--verify", "--tenant", TID, "--authority", &base], &t);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("another host"), "{}", out.stderr);
}

/// Review of the fixes: a token without tid, with a future nbf, or
/// checked against a key meant for encryption is not verified.
#[test]
fn tid_nbf_and_key_use_are_enforced() {
    let d = tempfile::tempdir().unwrap();
    let key = keypair(d.path());
    let jwks = write(d.path(), "jwks.json", key.jwks.to_string().as_bytes());
    let mut c = claims(3600);
    c.as_object_mut().unwrap().remove("tid");
    let out = token_cmd(
        &["--verify", "--tenant", TID, "--jwks", &jwks],
        &sign(&key, &c),
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no tid claim"), "{}", out.stderr);
    let mut c = claims(3600);
    c["nbf"] = json!(chrono::Utc::now().timestamp() + 3000);
    let out = token_cmd(
        &["--verify", "--tenant", TID, "--jwks", &jwks],
        &sign(&key, &c),
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let mut enc = key.jwks.clone();
    enc["keys"][0]["use"] = json!("enc");
    let enc = write(d.path(), "enc.json", enc.to_string().as_bytes());
    let out = token_cmd(
        &["--verify", "--tenant", TID, "--jwks", &enc],
        &sign(&key, &claims(3600)),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("not an RS256 signing key"),
        "{}",
        out.stderr
    );
}
