//! `payments crd`: prints the PaymentImport CustomResourceDefinition as YAML.

pub fn exec() -> anyhow::Result<()> {
    print!("{}", payments_operator::crd_yaml()?);
    Ok(())
}
