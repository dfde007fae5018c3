module.exports = {
  displayName: 'enrichment',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
