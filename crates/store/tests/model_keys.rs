//! The start-up check of the model key ring against the stored keys, on the real Postgres of
//! `DATABASE_URL` (a fresh database per test, from `#[sqlx::test]`).

use base64::Engine;
use domain::{ModelId, ModelKind, ModelSpec};
use service::sections::{ModelKeySettings, SecretText};
use sqlx::PgPool;
use store::model_keys::{ApiKey, KeyRing};
use store::models::{self, KeyChange};

/// A ring whose current key is `id` with 32 bytes of `byte`.
fn ring(id: &str, byte: u8) -> KeyRing {
    let key = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    KeyRing::from_settings(&ModelKeySettings {
        current: Some(SecretText::new(format!("{id}:{key}"))),
        previous: Vec::new(),
    })
    .expect("a ring")
}

fn model(id: &str) -> ModelSpec {
    ModelSpec {
        id: ModelId::parse(id).expect("an id"),
        kind: ModelKind::Openai,
        base_url: Some("http://127.0.0.1:9/v1".into()),
        ..ModelSpec::offline()
    }
}

async fn set_key(pool: &PgPool, ring: &KeyRing, spec: &ModelSpec) {
    let sealed = ring
        .seal(spec.id.as_str(), &ApiKey::new("sk-test-key"))
        .expect("sealed");
    let fingerprint = ring
        .fingerprint_of(&sealed.key_id)
        .expect("the current id's")
        .to_vec();
    models::update(pool, spec, KeyChange::Set(&sealed, &fingerprint))
        .await
        .expect("the key stored");
}

#[sqlx::test(migrator = "store::db::MIGRATOR")]
async fn a_key_id_no_stored_key_uses_may_come_back_with_another_key(pool: PgPool) {
    let spec = model("hosted");
    models::insert(&pool, &spec, KeyChange::Keep)
        .await
        .expect("inserted");
    let first = ring("k1", 1);
    set_key(&pool, &first, &spec).await;
    models::check_key_ring(&pool, &first)
        .await
        .expect("the ring that sealed it");

    // Another key under the same id cannot open what is stored: the start is refused.
    let second = ring("k1", 2);
    let error = models::check_key_ring(&pool, &second)
        .await
        .expect_err("a key that cannot open the stored one");
    assert!(format!("{error:#}").contains("k1"), "{error:#}");

    // Once no stored key uses k1, the new key is not held against it, and a key it seals is
    // recorded with its own fingerprint, so the next start passes too.
    models::update(&pool, &spec, KeyChange::Clear)
        .await
        .expect("cleared");
    models::check_key_ring(&pool, &second)
        .await
        .expect("nothing stored under k1");
    set_key(&pool, &second, &spec).await;
    models::check_key_ring(&pool, &second)
        .await
        .expect("the second ring's fingerprint recorded");
    models::check_key_ring(&pool, &first)
        .await
        .expect_err("the first key cannot open the new one");
}
