/**
 * What each supported Pacemaker release accepts in a CIB.
 *
 * `featureSet` is the release's CRM feature set: a CIB whose `crm_feature_set` is newer than the
 * installed Pacemaker's is refused, so the target version is a site setting. `schema` is the
 * newest `validate-with` schema the release ships that hpcdk's output uses.
 * Debian 12's 2.1.5 is verified by the validator tests on every run; the others come from the
 * release notes of each version (`pacemakerd --features` prints the feature set on a host).
 * @see https://clusterlabs.org/pacemaker/doc/
 */
export const PACEMAKER_VERSIONS: Readonly<Record<string, { featureSet: string; schema: string; distro: string }>> = {
  "2.0.5": { featureSet: "3.6.1", schema: "pacemaker-3.5", distro: "RHEL 8.4 (the seed lab)" },
  "2.1.5": { featureSet: "3.16.1", schema: "pacemaker-3.9", distro: "Debian 12" },
  "2.1.6": { featureSet: "3.17.4", schema: "pacemaker-3.9", distro: "Ubuntu 24.04" },
  "2.1.7": { featureSet: "3.19.0", schema: "pacemaker-3.9", distro: "RHEL 9.4" },
};
