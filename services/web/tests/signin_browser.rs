//! Signing in to the organisation's pages: through a real OpenID Connect provider
//! (`oidc-provider`, from npm) in a real Chromium (`tests/browser/signin.mjs`), with axe-core
//! checking each page; and the development sign-in of a server in development mode.
//!
//! Needs `node`, `npm ci` in `tests/browser/`, and `/usr/bin/chromium` (or
//! `CONFIDE_CHROMIUM`). With `CI=true` a missing part fails the test. Screenshots are written
//! to `SCREENSHOTS` when it names a folder (`docs/screenshots` holds the committed ones).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::identity::server_signing_in_through_a_provider;
use common::{parts_present, run_script};
use confide_domain::Role;
use confide_test_support::clinic::Clinic;
use confide_test_support::server::{Backend, spawn_app, spawn_app_with_pages};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_the_organisations_identity_provider() {
    if !parts_present() {
        return;
    }
    let (server, provider) =
        server_signing_in_through_a_provider(Backend::Sqlite, json!({ "ada": "Ada Tutor" })).await;
    // Ada tutors on a counselling course and supervises at a coaching company; a third
    // organisation has not added her.
    Clinic::new("course")
        .named("Community Counselling")
        .open_over_http(&server)
        .await;
    Clinic::new("coaching")
        .named("Northside Coaching")
        .open_over_http(&server)
        .await;
    Clinic::new("elsewhere")
        .named("Elsewhere")
        .without_members()
        .member("sam", Role::Practitioner)
        .open_over_http(&server)
        .await;

    // A callback that no sign-in of this browser began signs nobody in.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://{}", server.address);
    let stray = http
        .get(format!("{base}/sign-in/callback?code=stolen&state=guessed"))
        .send()
        .await
        .unwrap();
    assert_eq!(stray.status(), StatusCode::BAD_REQUEST);
    assert!(
        stray
            .headers()
            .get(SET_COOKIE)
            .is_none_or(|c| { !c.to_str().unwrap().starts_with("confide_staff=") })
    );
    assert!(
        stray
            .text()
            .await
            .unwrap()
            .contains("Sign-in did not finish")
    );
    // Leaving for the provider: a redirect with PKCE (S256), state and nonce, and the sign-in
    // in progress kept in a signed, HttpOnly, Lax cookie.
    let start = http
        .get(format!("{base}/sign-in/start?next=/practice"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let to = start.headers()[LOCATION].to_str().unwrap();
    assert!(
        to.starts_with(&format!("{}/auth?", provider.issuer)),
        "{to}"
    );
    for part in [
        "response_type=code",
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(to.contains(part), "{part} in {to}");
    }
    let kept = start
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap())
        .find(|c| c.starts_with("confide_sign_in="))
        .expect("the sign-in in progress");
    assert!(
        kept.contains("HttpOnly") && kept.contains("SameSite=Lax"),
        "{kept}"
    );

    let work = tempfile::tempdir().unwrap();
    let scenario = work.path().join("scenario.json");
    std::fs::write(
        &scenario,
        json!({
            "base": base,
            "tutor": "ada",
            "stranger": "someone-unknown",
            "organisations": ["Community Counselling", "Northside Coaching"],
            "chosen": "course",
            "elsewhere": "elsewhere",
        })
        .to_string(),
    )
    .unwrap();
    run_script("signin.mjs", &scenario, "sign-in: passed");
}

/// The value of the cookie `name` an answer sets.
fn set_cookie(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|c| c.to_str().ok())
        .filter_map(|c| c.split(';').next()?.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Posts `fields` as a form, with the CSRF cookie `csrf`.
async fn post_form(
    http: &reqwest::Client,
    url: String,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    http.post(url)
        .header(COOKIE, format!("confide_csrf={csrf}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn development_mode_signs_in_as_anyone_and_says_so_on_every_page() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let server = spawn_app_with_pages(
        Backend::Sqlite,
        Box::new(|pages| pages.in_development(true)),
    )
    .await;
    Clinic::new("course").open_over_http(&server).await;
    let base = format!("http://{}", server.address);
    let page = http.get(format!("{base}/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = set_cookie(&page, "confide_csrf").expect("a CSRF cookie");
    let text = page.text().await.unwrap();
    assert!(text.contains("Development mode: anyone can sign in as anyone here"));
    assert!(text.contains("Development sign-in"));
    assert!(!text.contains("Sign in with your organisation"));

    let form = [
        ("csrf", csrf.as_str()),
        ("tenant", "course"),
        ("user", "sam"),
        ("next", "/practice"),
    ];
    let signed_in = post_form(&http, format!("{base}/sign-in/development"), &csrf, &form).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()[LOCATION], "/practice");
    let session = set_cookie(&signed_in, "confide_staff").expect("a session");
    let practice = http
        .get(format!("{base}/practice"))
        .header(COOKIE, format!("confide_staff={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(practice.status(), StatusCode::OK);
    let text = practice.text().await.unwrap();
    assert!(
        text.contains("Development mode"),
        "the banner on every page"
    );
    assert!(text.contains("Morgan Ellis"), "Sam's client, on Sam's page");

    // An unknown tenant is said plainly, and nobody is signed in.
    let unknown = post_form(
        &http,
        format!("{base}/sign-in/development"),
        &csrf,
        &[
            ("csrf", csrf.as_str()),
            ("tenant", "nowhere"),
            ("user", "sam"),
        ],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&unknown, "confide_staff").is_none());
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("There is no such tenant.")
    );

    // Outside development mode there is no such sign-in, and no provider: nobody signs in.
    let production = spawn_app(Backend::Sqlite).await;
    Clinic::new("course").open_over_http(&production).await;
    let base = format!("http://{}", production.address);
    let page = http.get(format!("{base}/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let csrf = set_cookie(&page, "confide_csrf").unwrap();
    assert!(!page.text().await.unwrap().contains("Development"));
    let refused = post_form(
        &http,
        format!("{base}/sign-in/development"),
        &csrf,
        &[
            ("csrf", csrf.as_str()),
            ("tenant", "course"),
            ("user", "sam"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(set_cookie(&refused, "confide_staff").is_none());
    let start = http
        .get(format!("{base}/sign-in/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::NOT_FOUND);

    // A provider that cannot be reached: said at once, as an outage, and nobody signed in.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = spawn_app_with_pages(
        Backend::Sqlite,
        Box::new(move |pages| {
            pages
                .with_identity_provider(confide_web::ProviderSettings {
                    issuer,
                    client_id: "confide".to_owned(),
                    client_secret: None,
                })
                .unwrap()
        }),
    )
    .await;
    let start = http
        .get(format!("http://{}/sign-in/start", unreachable.address))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(start.headers().contains_key("retry-after"));
    assert!(set_cookie(&start, "confide_sign_in").is_none());
    assert!(
        start
            .text()
            .await
            .unwrap()
            .contains("sign-in cannot be reached")
    );
}
