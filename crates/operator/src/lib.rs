//! The Kubernetes side of the platform. `PaymentImport` asks for a CSV in object storage to be
//! imported with the shared pipeline; its status reports the import the way `kubectl get` and
//! the Kubernetes API conventions expect (conditions with `Ready` first, counts, times).

pub mod crd;

pub use crd::{
    Condition, ImportCounts, PaymentImport, PaymentImportSpec, PaymentImportStatus, S3Object,
    Source,
};

/// The CRD as YAML, as committed under `k8s/crds/` and in the chart.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&PaymentImport::crd())
}

#[cfg(test)]
mod tests {
    /// The committed CRD is what the code generates: regenerate with
    /// `cargo run -p payments -- crd > k8s/crds/paymentimports.payments.dev.yaml`.
    #[test]
    fn committed_crd_has_not_drifted() {
        let generated = super::crd_yaml().expect("CRD serialises");
        for (path, committed) in [
            (
                "k8s/crds/paymentimports.payments.dev.yaml",
                include_str!("../../../k8s/crds/paymentimports.payments.dev.yaml"),
            ),
            (
                "charts/payments/crds/paymentimports.payments.dev.yaml",
                include_str!("../../../charts/payments/crds/paymentimports.payments.dev.yaml"),
            ),
        ] {
            assert!(
                committed == generated,
                "{path} is stale: regenerate it with `cargo run -p payments -- crd > {path}`"
            );
        }
    }
}
