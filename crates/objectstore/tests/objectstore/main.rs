//! The object store against the local S3 server.

use payments_objectstore::{object_key, ObjectStore, PART_SIZE};
use payments_testkit::{stack, unique_name};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

fn store(bucket: &str) -> ObjectStore {
    payments_testkit::object_store(bucket)
}

async fn read_back(store: &ObjectStore, key: &str) -> Vec<u8> {
    let mut body = store.get(key).await.expect("get object");
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes).await.expect("read object");
    bytes
}

#[tokio::test]
async fn small_and_multipart_uploads_keep_the_bytes_and_their_hash() {
    let store = store(&stack().s3_bucket);
    store.ensure_bucket().await.expect("bucket exists");
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for size in [0, 1000, PART_SIZE, PART_SIZE * 2 + 12345] {
        let mut bytes = vec![0u8; size];
        rng.fill_bytes(&mut bytes);
        let key = format!("{}.csv", unique_name("objectstore-test"));
        let stored = store
            .put_stream(&key, bytes.as_slice(), "text/csv")
            .await
            .expect("upload");
        assert_eq!(stored.size, size as u64);
        assert_eq!(stored.sha256_hex, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(store.size(&key).await.expect("head"), Some(size as u64));
        assert!(
            read_back(&store, &key).await == bytes,
            "the stored object has the original bytes ({size})"
        );
        assert!(store.list(&key).await.expect("list").contains(&key));
    }
    assert_eq!(store.size("no-such-object.csv").await.expect("head"), None);
}

#[tokio::test]
async fn a_new_bucket_is_created_once() {
    let bucket = unique_name("bucket");
    let store = store(&bucket);
    store.ensure_bucket().await.expect("create");
    store.ensure_bucket().await.expect("already there");
    let key = object_key("../../x.csv", chrono::Utc::now());
    assert!(!key.contains('/'));
    store
        .put_stream(&key, &b"a,b\n"[..], "text/csv")
        .await
        .expect("upload");
    assert_eq!(store.list("").await.expect("list"), vec![key]);
}
