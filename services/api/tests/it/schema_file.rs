//! The committed schema is the code's schema. Regenerate it with
//! `CONFIDE_WRITE_SCHEMA=1 cargo test -p confide-api --test it schema_file`.

#[test]
fn the_committed_schema_is_the_codes_schema() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/graphql/schema.graphql"
    );
    let sdl = confide_api::sdl();
    if std::env::var_os("CONFIDE_WRITE_SCHEMA").is_some() {
        std::fs::write(path, &sdl).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == sdl,
        "schema/graphql/schema.graphql differs from the code; regenerate it with \
         CONFIDE_WRITE_SCHEMA=1 cargo test -p confide-api --test it schema_file"
    );
}
