//! The schema stays distributable by tenant (`docs/scaling.md`: Citus with `tenant_id` as the
//! distribution column and every table co-located): read from the PostgreSQL migrations of the
//! log, the key store and the read models, every table's key starts with `tenant_id`, every
//! index does too, every table has the tenant row-level security policy, no foreign key exists
//! (one could only cross tenants or shards), and every join in the migrations' functions and in
//! the services' SQL matches `tenant_id`, so no query joins one tenant's rows to another's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failure.

use std::path::{Path, PathBuf};

/// Tables whose key does not start with `tenant_id` yet, each with why and what changes it.
/// The test fails if one of them is fixed (so the list stays true) or another joins it.
const NOT_YET: &[(&str, &str)] = &[(
    "consumer_positions",
    "keyed (consumer, tenant_id): distributable as it is (the key holds tenant_id) but to be \
     re-keyed (tenant_id, consumer) by the log's next migration (docs/scaling.md)",
)];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every PostgreSQL migration, as (file name, text).
fn migrations() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for dir in [
        "schema/migrations/postgres",
        "services/vault/migrations/postgres",
        "services/readmodels/migrations/postgres",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sql") {
                found.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    assert!(
        found.len() >= 12,
        "the migrations were found: {}",
        found.len()
    );
    found
}

/// Text without `--` comments.
fn code(sql: &str) -> String {
    sql.lines()
        .map(|line| line.split("--").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// (table, its body) of every `CREATE TABLE name ( … );`.
fn tables(sql: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find("CREATE TABLE ") {
        rest = &rest[at + "CREATE TABLE ".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let body_end = rest.find("\n);").expect("a table's closing line");
        out.push((name, rest[..body_end].to_owned()));
    }
    out
}

/// The columns of a table's primary key.
fn primary_key(body: &str) -> Vec<String> {
    if let Some(at) = body.find("PRIMARY KEY (") {
        let inner = &body[at + "PRIMARY KEY (".len()..];
        return inner[..inner.find(')').unwrap()]
            .split(',')
            .map(|c| c.trim().to_owned())
            .collect();
    }
    // A column declared `… PRIMARY KEY` on its own line.
    body.lines()
        .find(|line| line.contains("PRIMARY KEY"))
        .map(|line| vec![line.split_whitespace().next().unwrap().to_owned()])
        .unwrap_or_default()
}

#[test]
fn every_table_is_keyed_and_guarded_by_tenant_and_nothing_refers_across() {
    let migrations = migrations();
    let all: String = migrations
        .iter()
        .map(|(_, sql)| code(sql))
        .collect::<Vec<_>>()
        .join("\n");
    let mut seen = Vec::new();
    for (file, sql) in &migrations {
        for (table, body) in tables(&code(sql)) {
            let key = primary_key(&body);
            assert!(!key.is_empty(), "{file}: {table} has no primary key");
            let exception = NOT_YET.iter().find(|(t, _)| *t == table);
            match exception {
                None => assert_eq!(
                    key[0], "tenant_id",
                    "{file}: {table}'s key {key:?} does not start with tenant_id"
                ),
                Some((_, why)) => {
                    assert_ne!(key[0], "tenant_id", "{table} is fixed: take it off NOT_YET");
                    assert!(key.contains(&"tenant_id".to_owned()), "{table}: {why}");
                }
            }
            assert!(
                !body.contains("REFERENCES") && !body.contains("FOREIGN KEY"),
                "{file}: {table} has a foreign key"
            );
            // The tenant policy, declared for the table by name or in the log's loop.
            let guarded = all.contains(&format!("CREATE POLICY tenant_isolation ON {table}"))
                || all.contains(&format!("'{table}'"))
                    && all.contains("CREATE POLICY tenant_isolation ON %I");
            assert!(guarded, "{file}: {table} has no tenant_isolation policy");
            assert!(
                all.contains(&format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
                    || all.contains(&format!("'{table}'")),
                "{file}: {table}'s row-level security is not forced"
            );
            seen.push(table);
        }
    }
    for table in [
        "events",
        "tenant_heads",
        "data_keys",
        "aggregate_states",
        "job_leases",
        "staff_sessions",
    ] {
        assert!(
            seen.iter().any(|t| t == table),
            "{table} was not read: {seen:?}"
        );
    }
    assert!(!all.contains("FOREIGN KEY") && !all.contains("REFERENCES "));
    for line in all.lines().filter(|l| l.contains("CREATE INDEX")) {
        let columns = &line[line.find('(').unwrap() + 1..];
        assert!(
            columns.trim_start().starts_with("tenant_id"),
            "an index that does not start with tenant_id: {line}"
        );
    }
}

/// Every `JOIN … ON` in `text` matches on `tenant_id` within the clause (its line or the few
/// after it); a lateral join's subquery names `tenant_id` in the same way.
fn joins_match_the_tenant(origin: &str, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let line = line.split("--").next().unwrap();
        if !line.contains(" JOIN ") && !line.trim_start().starts_with("JOIN ") {
            continue;
        }
        let clause: String = lines[i..(i + 5).min(lines.len())].join(" ");
        assert!(
            clause.contains("tenant_id"),
            "{origin}:{}: a join that does not match the tenant: {}",
            i + 1,
            line.trim()
        );
    }
}

#[test]
fn no_join_crosses_tenants() {
    let mut joins = 0;
    for (file, sql) in migrations() {
        joins += code(&sql).matches(" JOIN ").count();
        joins_match_the_tenant(&file, &code(&sql));
    }
    for crate_dir in ["eventstore", "readmodels", "vault", "app"] {
        let mut stack = vec![root().join("services").join(crate_dir).join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    joins += text.matches(" JOIN ").count();
                    joins_match_the_tenant(&path.display().to_string(), &text);
                }
            }
        }
    }
    assert!(joins >= 5, "the joins were found: {joins}");
}
