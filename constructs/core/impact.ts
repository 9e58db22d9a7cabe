/** The change impact a construct declares for its files: a contract with `hpcdk diff`, on the ground floor. */
export * from "../../common/contracts/impact.js";
