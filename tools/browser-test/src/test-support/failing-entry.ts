export default async function run(): Promise<never> {
  throw new Error('deliberate failure inside the page');
}
