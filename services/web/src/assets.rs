//! The files under `/assets`, compiled into the binary: the stylesheet, and the in-browser
//! verifier (plain ES modules and a Worker, no build step).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A script under `assets/`.
macro_rules! js {
    ($path:literal) => {
        (
            $path,
            "text/javascript; charset=utf-8",
            include_bytes!(concat!("../assets/", $path)).as_slice(),
        )
    };
}

/// Each asset: its path under `/assets/`, its type, and its bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/style.css"),
    ),
    js!("staff/copy.js"),
    js!("staff/player.js"),
    js!("staff/upload.js"),
    js!("verify/auditor.js"),
    js!("verify/bundle.js"),
    js!("verify/bytes.js"),
    js!("verify/canonical.js"),
    js!("verify/filter.js"),
    js!("verify/lines.js"),
    js!("verify/merkle.js"),
    js!("verify/note.js"),
    js!("verify/receipt-claims.js"),
    js!("verify/receipt-verify.js"),
    js!("verify/receipt.js"),
    js!("verify/render.js"),
    js!("verify/report.js"),
    js!("verify/sha256.js"),
    js!("verify/worker.js"),
];

/// `GET /assets/{path}`.
pub(crate) async fn serve(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, content_type, bytes)) => {
            let mut response = (*bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// Every file in `assets/` is served: one added without a line here would be missed.
    #[test]
    fn every_file_under_assets_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = Vec::new();
        for dir in [root.clone(), root.join("staff"), root.join("verify")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    on_disk.push(
                        path.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|(p, _, _)| (*p).to_owned()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }
}
