module.exports = {
  displayName: 'data-fetcher',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
