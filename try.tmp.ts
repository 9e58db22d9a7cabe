import { loadSiteFile } from "./schema/load.js";
import { labUp, labDown } from "./operations/lab/lab.js";
const site = loadSiteFile("test/fixtures/sites/two-node.yaml");
const t0 = Date.now();
try {
  const st = await labUp("two-node", site.spec, console.log);
  console.log("up in", Date.now() - t0, "ms", st.inventoryFile);
} catch (e) { console.error("ERR", e); }
