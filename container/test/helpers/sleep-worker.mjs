// A piscina worker for the lane-queue test: sleeps `ms`, then answers `label`.
export default async ({ label, ms }) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return label;
};
