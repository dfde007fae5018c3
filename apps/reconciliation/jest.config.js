module.exports = {
  displayName: 'reconciliation',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
